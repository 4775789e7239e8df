"""TripleO's own code judges what labwarp writes and runs (tests/tripleo_contract.rs).

Run with the python of the venv scripts/setup-tripleo.sh makes (python-tripleoclient 20,
tripleo-common 18, tripleo-ansible 6). One lab per process: tripleoclient's validators read
oslo.config's global CONF.

    python check.py SPEC.json

SPEC: {"undercloud_conf": PATH?, "instackenv": PATH?, "order": BOOL?,
       "commands": [{"argv": [...], "label": STR?, "credentials": [...]?}]}
where argv is what follows `openstack` and file arguments name real files; label names the
check instead of the argv. `credentials` (the OS_* variables present when the command ran,
from the stand-in's journal) is judged when given.

Commands are judged in order, and as one deployment: `overcloud node provision`'s baremetal
deployment file goes through tripleo-ansible's own `baremetal_deploy` (`validate_roles`,
`expand`, as its `tripleo_baremetal_expand_roles` module calls them), its instances must be
the nodes of instackenv.json, and the environment `expand` makes is written where the
command's `--output` points (unless a file is there); `overcloud network provision`'s
network data must pass tripleo-ansible's v2 schema, and `network vip provision`'s VIPs lie on
the ctlplane or those networks (tripleo-ansible's `validate_vip_nets_in_net_map`). The deploy
that follows must pass each of those environments with `-e`, its `-r` must be the roles
`overcloud roles generate` wrote (holding every role provisioned), and its `-n` must pass
the same schema. `overcloud image upload` must find in its `--image-path` every file the
real command reads (its own `_get_image_filename`, the IPA's kernel and initramfs, and a
partition image's vmlinuz and initrd). With "order", the steps a deployment needs first are
judged too (kind "order"): TripleO's container prepare before the undercloud install, the
image upload before introspection, provisioning and the deploy. Prints {"versions": {...}, "checks":
[{"check", "ok", "detail", "kind"}]}; each failure's detail names what is wrong. Exits 0
whenever it could judge (the caller decides).
"""

import ast
import contextlib
import copy
import io
import json
import logging
import os
import shlex
import sys
from importlib.metadata import entry_points, version
from unittest import mock

import yaml
from oslo_config import cfg
from tripleo_common.utils import nodes as tripleo_nodes
from tripleo_common.utils import roles as tripleo_roles
from tripleoclient import utils as oooutils
from tripleoclient.config.undercloud import UndercloudConfig
from tripleoclient.v1 import overcloud_deploy
from tripleoclient.v1 import undercloud_config  # registers the options on cfg.CONF
from tripleoclient.v1 import undercloud_preflight as preflight

# tripleo-ansible's module_utils (in the venv's share/, not on sys.path).
sys.path.insert(0, os.path.join(sys.prefix, "share/ansible/plugins/module_utils"))
import baremetal_deploy  # noqa: E402
import network_data_v2  # noqa: E402


def module_function(module, name):
    """Function `name` of a tripleo-ansible module, taken out of its file alone: the module
    imports the openstack.cloud Ansible collection, which the check does not need."""
    path = os.path.join(sys.prefix, "share/ansible/plugins/modules", module + ".py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace = {}
    exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)
    return namespace[name]


validate_vip_nets_in_net_map = module_function(
    "tripleo_overcloud_network_vip_provision", "validate_vip_nets_in_net_map")

COMMAND_GROUPS = (
    "openstack.tripleoclient.v2",
    "openstack.tripleoclient.v1",
    "openstack.baremetal.v1",
    "openstack.identity.v3",
)
# What tripleo-ansible's cli-overcloud-node-provision.yaml gives tripleo_baremetal_expand_roles
# when the undercloud holds the partition image (`overcloud image upload`).
DEFAULT_IMAGE = {
    "href": "file:///var/lib/ironic/images/overcloud-full.raw",
    "kernel": "file:///var/lib/ironic/images/overcloud-full.vmlinuz",
    "ramdisk": "file:///var/lib/ironic/images/overcloud-full.initrd",
}
DEFAULT_NETWORK = [{"network": "ctlplane", "vif": True}]
# Every command after the undercloud install talks to its services: it needs credentials.
NO_CREDENTIALS_NEEDED = ("undercloud_install", "tripleo_container_image_prepare_default")
CREDENTIAL_VARIABLES = ("OS_CLOUD", "OS_AUTH_URL")

checks = []


def report(check, ok, detail, kind="contract"):
    detail = "; ".join(line for line in detail.splitlines() if line.strip())
    checks.append({"check": check, "ok": ok, "detail": detail, "kind": kind})


# ---- undercloud.conf -------------------------------------------------------------------


def registered(config, subnets, local_subnet):
    """(section, key) -> (section, option, deprecated alias or None), as tripleoclient
    registers them: [DEFAULT] and one group per subnet (`_load_subnets_config_groups`)."""
    groups = {"DEFAULT": config.get_opts()}
    for subnet in subnets:
        local = subnet == local_subnet
        groups[subnet] = (config.get_local_subnet_opts() if local
                          else config.get_remote_subnet_opts())
    known = {}
    for section, opts in groups.items():
        for opt in opts:
            known[(section, opt.name)] = (section, opt, None)
    for section, opts in groups.items():
        for opt in opts:
            for alias in opt.deprecated_opts or []:
                key = (alias.group or section, alias.name or opt.name)
                known.setdefault(key, (section, opt, alias))
    return known


def option_problems(path):
    """Keys tripleoclient does not register, deprecates, or cannot parse."""
    sections = {}
    cfg.ConfigParser(path, sections).parse()
    oooutils.load_config(cfg.CONF, path)
    undercloud_config._load_subnets_config_groups()  # as `undercloud install` does
    subnets = list(cfg.CONF.subnets)
    known = registered(UndercloudConfig(), subnets, cfg.CONF.local_subnet)
    problems = []
    for section, keys in sections.items():
        if section != "DEFAULT" and section not in subnets:
            problems.append(f"unknown section [{section}] (not in subnets = "
                            f"{','.join(subnets)})")
            continue
        for key in keys:
            where = f"[{section}] {key}"
            if (section, key) not in known:
                problems.append(f"{where}: unknown option (tripleoclient "
                                f"registers no such key)")
                continue
            group, opt, alias = known[(section, key)]
            if alias is not None:
                problems.append(f"{where}: deprecated name of [{group}] {opt.name}")
                continue
            if opt.deprecated_for_removal:
                problems.append(f"{where}: deprecated for removal "
                                f"({opt.deprecated_reason})")
            try:
                cfg.CONF[key] if group == "DEFAULT" else cfg.CONF[group][key]
            except (cfg.ConfigFileValueError, ValueError) as e:
                problems.append(f"{where}: unparsable value: {e}")
    return sections, problems


def value_problems():
    """tripleoclient's own preflight validators of values (not those that probe the host)."""
    problems = []
    conf = cfg.CONF
    steps = [
        ("value formats", preflight._validate_value_formats),
        ("deprecated now invalid", preflight._validate_deprecetad_now_invalid_parameters),
        ("routed networks", preflight._check_routed_networks_enabled_if_multiple_subnets_defined),
        ("dns nameservers", preflight._check_all_or_no_subnets_use_dns_nameservers),
        ("IP addresses", preflight._validate_ips),
        ("architectures", preflight._validate_architecure_options),
    ]
    for subnet in conf.subnets:
        s = conf.get(subnet)
        steps += [
            (f"{subnet} in CIDR", lambda s=s, n=subnet: preflight._validate_in_cidr(s, n)),
            (f"{subnet} DHCP range", lambda s=s, n=subnet: preflight._validate_dhcp_range(s, n)),
            (f"{subnet} inspection range", lambda s=s: preflight._validate_inspection_range(s)),
            (f"{subnet} nameservers", lambda s=s: preflight._validate_dnsnameservers(s)),
        ]
    for name, step in steps:
        try:
            step()
        except (preflight.FailedValidation, RuntimeError, ValueError, KeyError) as e:
            problems.append(f"{name}: {e}")
    return problems


def check_undercloud_conf(path):
    try:
        sections, problems = option_problems(path)
    except (cfg.Error, OSError) as e:
        report("undercloud.conf options", False, f"not loadable: {e}")
        return
    count = sum(len(keys) for keys in sections.values())
    report("undercloud.conf options", not problems,
           "; ".join(problems) or
           f"{count} keys in {len(sections)} sections, each a registered option "
           f"(subnets: {','.join(cfg.CONF.subnets)})")
    if not problems:
        problems = value_problems()
        report("undercloud.conf values (preflight validators)", not problems,
               "; ".join(problems) or "value formats, CIDR, DHCP and inspection ranges, "
               "nameservers pass")


# ---- instackenv.json --------------------------------------------------------------------


def nodes_problem(nodes):
    try:
        tripleo_nodes.validate_nodes(nodes)
    except Exception as e:  # InvalidNode, or a KeyError on a malformed node
        return f"{type(e).__name__}: {e}"
    return None


def check_instackenv(path):
    with open(path) as f:
        nodes = oooutils.parse_env_file(f)  # as `overcloud node import` reads it
    problem = nodes_problem(nodes)
    made["instackenv_nodes"] = [n.get("name") for n in nodes]
    report("instackenv.json validate_nodes", problem is None,
           problem or f"{len(nodes)} node(s) valid: "
           + ", ".join(n.get("name", "?") for n in nodes))


# ---- command lines ----------------------------------------------------------------------


def find_command(argv):
    """The entry point of the longest command name argv starts with, and the rest."""
    commands = {}
    for group in COMMAND_GROUPS:
        for ep in entry_points(group=group):
            commands.setdefault(ep.name, ep)
    for n in range(min(len(argv), 6), 0, -1):
        name = "_".join(argv[:n])
        if name in commands:
            return name, commands[name], argv[n:]
    return None, None, argv


def parse(argv):
    """(command name, parsed args or None, problem or None)."""
    name, ep, rest = find_command(argv)
    if ep is None:
        return None, None, f"no TripleO command `openstack {' '.join(argv[:3])}`"
    cls = ep.load()
    prog = "openstack " + name.replace("_", " ")
    parser = cls(mock.MagicMock(), mock.MagicMock()).get_parser(prog)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parsed = parser.parse_args(rest)
    except SystemExit:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        return name, None, lines[-1] if lines else "argument parser exited"
    return name, parsed, None


# What earlier commands of the same spec made, for the ones after them (one deployment).
made = {"instackenv_nodes": None, "roles_file": None, "roles": None,
        "provisioned_env": None, "provisioned_roles": None,
        "networks": None, "networks_env": None, "vips_env": None,
        "images_uploaded": False, "container_prepare": False}

# What must have run (and passed) before a command, in a deployment's order.
NEEDS_FIRST = {
    "undercloud_install": ("container_prepare",
                           "openstack tripleo container image prepare (undercloud-prep)"),
    "overcloud_node_introspect": ("images_uploaded", "openstack overcloud image upload"),
    "overcloud_node_provision": ("images_uploaded", "openstack overcloud image upload"),
    "overcloud_deploy": ("images_uploaded", "openstack overcloud image upload"),
}


def image_upload(parsed):
    """The files `overcloud image upload` opens in --image-path, as the command picks them."""
    from tripleoclient.v1.overcloud_image import UploadOvercloudImage
    cmd = UploadOvercloudImage(mock.MagicMock(), mock.MagicMock())
    image = cmd._get_image_filename(parsed)
    base = os.path.splitext(image)[0]
    need = [f"{parsed.ipa_name}.initramfs", f"{parsed.ipa_name}.kernel", image]
    if not parsed.whole_disk and image != "overcloud-hardened-uefi-full.qcow2":
        need += [f"{base}.vmlinuz", f"{base}.initrd"]
    missing = [f for f in need if not os.path.isfile(os.path.join(parsed.image_path, f))]
    if missing:
        raise ValueError(f"--image-path {parsed.image_path} lacks {', '.join(missing)}")
    made["images_uploaded"] = True
    return f"{parsed.image_path} holds {', '.join(need)}"


def write_env(path, env):
    """The environment a provisioning command writes, for the deploy after it (a file already
    there, from a real run, is kept)."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        with open(path, "w") as f:
            yaml.safe_dump(env, f)
    return path


def network_data(path):
    """Network data v2 as tripleo-ansible validates it, one network at a time."""
    if not oooutils.is_network_data_v2(path):
        raise ValueError(f"{path}: network data version 1")
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, list):
        raise ValueError(f"{path}: not a list of networks")
    errors = [e for net in data for e in network_data_v2.validate_json_schema(net)]
    if errors:
        raise ValueError(f"{path}: {' '.join(errors)}")
    return data


def network_provision(parsed):
    """`overcloud network provision`: its network data, then its environment."""
    data = network_data(parsed.networks_file)
    made["networks"] = [n["name"] for n in data]
    made["networks_env"] = write_env(parsed.output, {"parameter_defaults": {
        "DeployedNetworkEnvironment": {"net_attributes_map": {}, "net_cidr_map": {},
                                       "net_ip_version_map": {}}}})
    return f"network data v2: {len(data)} composable network(s)"


def vip_provision(parsed):
    """`overcloud network vip provision`: every VIP on the ctlplane or a provisioned network
    (tripleo-ansible's own check, over the networks the undercloud's neutron would hold)."""
    with open(parsed.vip_file) as f:
        vips = yaml.safe_load(f)
    names = ["ctlplane"] + (made["networks"] or [])
    net_maps = {"by_name": {n: {"subnets": {f"{n}-subnet": n}} for n in names}}
    validate_vip_nets_in_net_map(vips, net_maps)
    made["vips_env"] = write_env(parsed.output, {"parameter_defaults": {
        "ControlPlaneVipData": {}, "VipPortMap": {}}})
    return "VIPs on " + ", ".join(v["network"] for v in vips)


def provision(parsed):
    """`overcloud node provision`: the baremetal deployment as tripleo-ansible reads it."""
    path = os.path.abspath(parsed.input)
    with open(path) as f:
        roles = yaml.safe_load(f)
    oooutils.validate_roles_playbooks(os.path.dirname(path), roles)
    # As tripleo_baremetal_expand_roles calls it: expand merges the playbook's defaults into
    # every role and instance, runs validate_roles (jsonschema, counts) on the result, then
    # expands the roles into instances and the deploy's environment.
    merged = copy.deepcopy(roles)
    instances, env, _, hostname_role = baremetal_deploy.expand(
        merged, parsed.stack, default_image=DEFAULT_IMAGE,
        default_network=DEFAULT_NETWORK)
    baremetal_deploy.validate_roles(merged)  # explicitly, on what was expanded
    names = [i.get("name") for i in instances]
    if made["instackenv_nodes"] is not None:
        unknown = [n for n in names if n not in made["instackenv_nodes"]]
        left = [n for n in made["instackenv_nodes"] if n not in names]
        if unknown or left:
            raise ValueError(
                f"instances {unknown} are not nodes of instackenv.json; "
                f"nodes {left} are not provisioned" if unknown else
                f"nodes of instackenv.json not provisioned: {left}")
    mismatched = [f"{i['hostname']} on node {i.get('name')}" for i in instances
                  if i.get("name") and i["hostname"] != i["name"]]
    if mismatched:
        raise ValueError(f"hostnames differ from the VM (node) names: {mismatched}")
    made["provisioned_env"] = write_env(parsed.output, env)
    made["provisioned_roles"] = sorted({r["name"] for r in roles})
    params = env["parameter_defaults"]
    return "; ".join([
        f"expand: {len(instances)} instance(s) "
        + ", ".join(f"{h} ({r})" for h, r in hostname_role.items()),
        ", ".join(f"{k}={v}" for k, v in params.items() if k.endswith("Count")),
    ])


def roles_generate(parsed):
    """`overcloud roles generate`: each ROLE:NAME by tripleo-common's colon-format rule."""
    names = []
    for role in parsed.roles:
        defined, _, generated = role.partition(":")
        if generated:
            tripleo_roles.generate_role_with_colon_format(
                f"- name: {defined}\n", defined, generated)
        names.append(generated or defined)
    made["roles_file"] = os.path.abspath(parsed.output_file) if parsed.output_file else None
    made["roles"] = names
    return f"roles {', '.join(names)} into {made['roles_file']}"


def deploy(parsed):
    """`overcloud deploy` with what the commands before it made."""
    overcloud_deploy._validate_args(parsed)
    notes = []
    if parsed.networks_file:
        data = network_data(parsed.networks_file)
        notes.append(f"network data v2: {len(data)} composable network(s)")
    envs = [os.path.abspath(e) for e in parsed.environment_files or []]
    for key, command, what in [
            ("networks_env", "overcloud network provision", "networks'"),
            ("vips_env", "overcloud network vip provision", "virtual IPs'"),
            ("provisioned_env", "overcloud node provision", "servers'")]:
        if made[key]:
            if made[key] not in envs:
                raise ValueError(f"the deploy does not pass the environment `{command}` "
                                 f"wrote ({made[key]}) with -e")
            notes.append(f"-e the provisioned {what} environment")
    if made["roles"] is not None:
        roles_file = parsed.roles_file and os.path.abspath(parsed.roles_file)
        if roles_file != made["roles_file"]:
            raise ValueError(f"-r {parsed.roles_file} is not the roles data `overcloud "
                             f"roles generate` wrote ({made['roles_file']})")
        missing = [r for r in made["provisioned_roles"] or [] if r not in made["roles"]]
        if missing:
            raise ValueError(f"roles provisioned but not in the roles data: {missing}")
        notes.append(f"-r roles {', '.join(made['roles'])}")
    return "; ".join(notes)


def after_parse(name, parsed):
    """What the command itself checks first about its arguments (and, for a deployment's
    commands, what they make for the next ones); returns what it saw, or None."""
    if name == "overcloud_deploy":
        return deploy(parsed)
    if name == "overcloud_node_provision":
        return provision(parsed)
    if name == "overcloud_roles_generate":
        return roles_generate(parsed)
    if name == "overcloud_network_provision":
        return network_provision(parsed)
    if name == "overcloud_network_vip_provision":
        return vip_provision(parsed)
    if name == "overcloud_image_upload":
        return image_upload(parsed)
    if name == "tripleo_container_image_prepare_default":
        made["container_prepare"] = True
        return f"writes {parsed.output_env_file}"
    if name == "overcloud_node_import":
        nodes = oooutils.parse_env_file(parsed.env_file)
        parsed.env_file.close()
        problem = nodes_problem(nodes)
        if problem:
            raise ValueError(f"its file {parsed.env_file.name}: {problem}")


def check_command(command, order=False):
    argv = command["argv"]
    shown = command.get("label") or "openstack " + shlex.join(argv)
    name, parsed, problem = parse(argv)
    saw = None
    if problem is None:
        try:
            saw = after_parse(name, parsed)
        except Exception as e:
            problem = f"{type(e).__name__}: {e}"
    if order and name in NEEDS_FIRST:
        flag, what = NEEDS_FIRST[name]
        report(f"order: {shown}", made[flag],
               f"after {what}" if made[flag] else f"runs before {what}, which it needs first",
               kind="order")
    report(f"argv: {shown}", problem is None,
           problem or f"{name} parser accepts it" + (f"; {saw}" if saw else ""))
    if "credentials" in command and name and name not in NO_CREDENTIALS_NEEDED:
        present = [v for v in command["credentials"] if v in CREDENTIAL_VARIABLES]
        report(f"credentials: {shown}", bool(present),
               f"present: {', '.join(present)}" if present else
               "neither OS_CLOUD nor OS_AUTH_URL was set (source stackrc or set "
               "OS_CLOUD=undercloud)", kind="credentials")


def main():
    logging.disable(logging.CRITICAL)  # the verdicts below say what is wrong
    spec = json.load(open(sys.argv[1]))
    if spec.get("undercloud_conf"):
        check_undercloud_conf(spec["undercloud_conf"])
    if spec.get("instackenv"):
        check_instackenv(spec["instackenv"])
    for command in spec.get("commands", []):
        check_command(command, spec.get("order", False))
    versions = {d: version(d) for d in ("python-tripleoclient", "tripleo-common",
                                        "tripleo-ansible", "oslo.config", "cliff")}
    json.dump({"versions": versions, "checks": checks}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
