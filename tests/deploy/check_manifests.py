#!/usr/bin/env python3
"""Check the Kubernetes manifests and Dockerfiles of atman-server.

Renders deploy/base, deploy/overlays/gpu and deploy/prometheus-adapter with
`kubectl kustomize` and checks that ports, probes, drain timing, security
settings, autoscaling, disruption budget and scraping agree with the server's
flags and metrics. Checks that every COPY source of the Dockerfiles exists and
is not excluded by their .dockerignore. Given --binary, checks that the
runtime stage of docker/Dockerfile installs the packages that provide the
shared libraries of that binary.

Exit codes: 0 all checks passed, 1 a check failed, 2 usage error, 77 kubectl
is missing (the Docker checks still ran and passed).
"""

import argparse
import fnmatch
import glob
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:
    sys.exit("error: PyYAML is missing; install it with "
             "`apt-get install python3-yaml`")

SKIP_RETURN_CODE = 77

# Flags of build/server/atman-server, plus gflags' own --flagfile.
SERVER_FLAGS = {
    "address", "port", "metrics_port", "model_repository", "default_model",
    "devices", "dtype", "batch_size", "max_message_bytes", "queue_limit",
    "memory_budget_bytes", "drain_timeout_seconds", "reuse_prefix",
    "project_targets_only", "intra_op_threads", "tls_cert", "tls_key",
    "tls_client_ca", "auth_token_file", "flagfile", "metrics_address",
    "max_active_requests",
}
# Server defaults that matter when a flag is not set.
FLAG_DEFAULTS = {"port": "50051", "metrics_port": "9090",
                 "drain_timeout_seconds": "30", "devices": "cpu"}

# Metrics the server exports, by Prometheus type.
HISTOGRAMS = {"atman_queue_time_seconds", "atman_request_latency_seconds",
              "atman_compute_time_seconds", "atman_batch_size"}
COUNTERS = {"atman_requests_total", "atman_forward_passes_total",
            "atman_perturbations_total", "atman_device_busy_seconds_total"}
GAUGES = {"atman_queue_depth", "atman_inflight_requests"}
# The series names Prometheus stores for those metrics.
EXPORTED_SERIES = (
    COUNTERS | GAUGES
    | {name + suffix for name in HISTOGRAMS
       for suffix in ("_bucket", "_sum", "_count")})
QUEUE_TIME_METRIC = "atman_queue_time_seconds"

SERVER_CONTAINER = "atman-server"
# Kubernetes' default when a pod spec leaves it out.
DEFAULT_GRACE_PERIOD_SECONDS = 30
# Packages whose libraries every Debian image has (C library and loader).
BASE_PACKAGES = {"libc6"}


class CheckError(Exception):
    """An input that cannot be checked at all (bad YAML, missing tool)."""


# ---------------------------------------------------------------------------
# Rendering and lookup helpers


def render_kustomization(kubectl, directory):
    """Run `kubectl kustomize DIRECTORY` and return its documents."""
    result = subprocess.run([kubectl, "kustomize", directory],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CheckError(f"kubectl kustomize {directory} failed "
                         f"(exit {result.returncode}): {result.stderr.strip()}")
    return parse_documents(result.stdout)


def parse_documents(text):
    """Parse a multi-document YAML string, dropping empty documents."""
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as error:
        raise CheckError(f"invalid YAML: {error}") from error


def find_all(docs, kind):
    return [doc for doc in docs if doc.get("kind") == kind]


def find_one(docs, kind, name=None):
    for doc in find_all(docs, kind):
        if name is None or doc["metadata"]["name"] == name:
            return doc
    return None


def labels_match(selector_labels, labels):
    """Return whether every selector label is present in labels."""
    return bool(selector_labels) and all(
        labels.get(key) == value for key, value in selector_labels.items())


# ---------------------------------------------------------------------------
# Flags


def parse_flag(argument):
    """Split '--name=value' into (name, value). A bare '--name' is true."""
    if not argument.startswith("-"):
        return None
    body = argument.lstrip("-")
    if "=" in body:
        name, value = body.split("=", 1)
    else:
        name, value = body, "true"
    return name, value


def flagfile_text(path, pod_spec, container, docs):
    """Return the text of a --flagfile that a ConfigMap volume provides."""
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        config_map_ref = volume.get("configMap")
        if not config_map_ref:
            continue
        mount_path = mount["mountPath"].rstrip("/")
        if "subPath" in mount:
            if mount_path != path:
                continue
            key = mount["subPath"]
        elif posixpath.dirname(path) == mount_path:
            key = posixpath.basename(path)
            for item in config_map_ref.get("items", []):
                if item["path"] == key:
                    key = item["key"]
        else:
            continue
        config_map = find_one(docs, "ConfigMap", config_map_ref["name"])
        if config_map is None:
            raise CheckError(f"ConfigMap {config_map_ref['name']} for "
                             f"--flagfile={path} is not in the manifests")
        data = config_map.get("data", {})
        if key not in data:
            raise CheckError(f"ConfigMap {config_map_ref['name']} has no key "
                             f"{key!r} for --flagfile={path}")
        return data[key]
    raise CheckError(f"no ConfigMap volume is mounted at {path} "
                     f"(--flagfile={path})")


def effective_flags(pod_spec, container, docs, errors):
    """Return the server flags in force, applied in command-line order.

    gflags reads a --flagfile where it appears, so a later flag overrides an
    earlier one, whether it came from a file or from the arguments.
    """
    flags = {}

    def apply(arguments, origin):
        for argument in arguments:
            parsed = parse_flag(argument)
            if parsed is None:
                errors.append(f"{origin}: {argument!r} is not a flag")
                continue
            name, value = parsed
            if name not in SERVER_FLAGS:
                errors.append(f"{origin}: unknown flag --{name}")
                continue
            if name == "flagfile":
                text = flagfile_text(value, pod_spec, container, docs)
                lines = [line.strip() for line in text.splitlines()]
                apply([line for line in lines
                       if line and not line.startswith("#")], value)
            else:
                flags[name] = value

    apply(container.get("command", [])[1:] + container.get("args", []),
          f"container {container['name']} args")
    return flags


def flag_value(flags, name):
    return flags.get(name, FLAG_DEFAULTS.get(name))


# ---------------------------------------------------------------------------
# Manifest checks. Each returns a list of error messages.


def server_container(deployment):
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        if container["name"] == SERVER_CONTAINER:
            return container
    return None


def resolve_target_port(target_port, container):
    """Return the container port number a Service targetPort refers to."""
    for port in container.get("ports", []):
        if target_port in (port.get("name"), port["containerPort"]):
            return port["containerPort"]
    return None


def prestop_sleep_seconds(container):
    """Return the seconds a preStop hook sleeps, or None without a sleep."""
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = pre_stop.get("exec", {}).get("command", [])
    words = shlex.split(" ".join(command[2:])) if command[1:2] == ["-c"] \
        else command
    for index, word in enumerate(words[:-1]):
        if posixpath.basename(word) == "sleep":
            return float(words[index + 1])
    return None


def check_ports(container, flags):
    errors = []
    grpc_port = int(flag_value(flags, "port"))
    metrics_port = int(flag_value(flags, "metrics_port"))
    declared = {port["containerPort"] for port in container.get("ports", [])}
    if declared != {grpc_port, metrics_port}:
        errors.append(f"container ports {sorted(declared)} differ from "
                      f"--port={grpc_port} and --metrics_port={metrics_port}")
    for port in container.get("ports", []):
        expected = {"grpc": grpc_port, "metrics": metrics_port}.get(
            port.get("name"))
        if expected is not None and port["containerPort"] != expected:
            errors.append(f"container port {port['name']} is "
                          f"{port['containerPort']}, the flags say {expected}")
    return errors


def check_services(docs, deployment, container, flags):
    errors = []
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    grpc_port = int(flag_value(flags, "port"))
    metrics_port = int(flag_value(flags, "metrics_port"))
    targets = set()
    for service in find_all(docs, "Service"):
        if not labels_match(service["spec"].get("selector", {}), pod_labels):
            continue
        name = service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            target = resolve_target_port(
                port.get("targetPort", port["port"]), container)
            if target is None:
                errors.append(f"Service {name} port {port.get('name')} "
                              f"targets {port.get('targetPort')!r}, which is "
                              f"no container port")
                continue
            targets.add(target)
            expected = {"grpc": grpc_port, "metrics": metrics_port}.get(
                port.get("name"))
            if expected is not None and target != expected:
                errors.append(f"Service {name} port {port['name']} targets "
                              f"{target}, the flags say {expected}")
    if grpc_port not in targets:
        errors.append(f"no Service targets the gRPC port {grpc_port}")
    if metrics_port not in targets:
        errors.append(f"no Service targets the metrics port {metrics_port}")
    return errors


def check_probes(container, flags):
    errors = []
    grpc_port = int(flag_value(flags, "port"))
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(probe_name)
        if probe is None:
            errors.append(f"{probe_name} is missing")
            continue
        if "grpc" not in probe:
            errors.append(f"{probe_name} is not a gRPC probe")
            continue
        if probe["grpc"].get("port") != grpc_port:
            errors.append(f"{probe_name} checks port {probe['grpc'].get('port')},"
                          f" the gRPC port is {grpc_port}")
    return errors


def check_termination(pod_spec, container, flags):
    errors = []
    sleep_seconds = prestop_sleep_seconds(container)
    if sleep_seconds is None:
        errors.append("the container has no preStop sleep")
        sleep_seconds = 0
    drain_seconds = float(flag_value(flags, "drain_timeout_seconds"))
    grace_seconds = pod_spec.get("terminationGracePeriodSeconds",
                                 DEFAULT_GRACE_PERIOD_SECONDS)
    if grace_seconds <= drain_seconds + sleep_seconds:
        errors.append(f"terminationGracePeriodSeconds={grace_seconds} must "
                      f"exceed --drain_timeout_seconds={drain_seconds:g} plus "
                      f"the preStop sleep of {sleep_seconds:g} s")
    return errors


def check_security(pod_spec, container, expected_uid):
    errors = []
    pod_context = pod_spec.get("securityContext", {})
    context = container.get("securityContext", {})

    def setting(name):
        return context.get(name, pod_context.get(name))

    if setting("runAsNonRoot") is not True:
        errors.append("runAsNonRoot is not true")
    if setting("runAsUser") != expected_uid:
        errors.append(f"runAsUser is {setting('runAsUser')}, the image runs "
                      f"as {expected_uid}")
    if context.get("readOnlyRootFilesystem") is not True:
        errors.append("readOnlyRootFilesystem is not true")
    if context.get("allowPrivilegeEscalation") is not False:
        errors.append("allowPrivilegeEscalation is not false")
    if "ALL" not in context.get("capabilities", {}).get("drop", []):
        errors.append("capabilities do not drop ALL")
    return errors


def check_volumes(pod_spec, container, flags):
    errors = []
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes", [])}
    mounts = {mount["mountPath"]: mount
              for mount in container.get("volumeMounts", [])}
    tmp = mounts.get("/tmp")
    if tmp is None or "emptyDir" not in volumes.get(tmp["name"], {}):
        errors.append("/tmp is not an emptyDir (the root file system is "
                      "read-only)")
    model_path = flags.get("model_repository", "/models")
    models = mounts.get(model_path)
    if models is None:
        errors.append(f"nothing is mounted at --model_repository={model_path}")
    else:
        claim = volumes.get(models["name"], {}).get("persistentVolumeClaim", {})
        if claim.get("claimName") != "atman-models":
            errors.append(f"the model volume is not the PVC atman-models")
        if models.get("readOnly") is not True or claim.get("readOnly") is not True:
            errors.append("the model volume is not mounted read-only")
    return errors


def check_resources(container):
    errors = []
    resources = container.get("resources", {})
    requests = resources.get("requests", {})
    for resource in ("cpu", "memory"):
        if resource not in requests:
            errors.append(f"resources.requests.{resource} is missing")
    if "memory" not in resources.get("limits", {}):
        errors.append("resources.limits.memory is missing")
    return errors


def check_devices(container, flags, gpu):
    errors = []
    limits = container.get("resources", {}).get("limits", {})
    gpus = int(limits.get("nvidia.com/gpu", 0))
    devices = flag_value(flags, "devices").split(",")
    cuda_devices = [device for device in devices if device.startswith("cuda")]
    if gpu:
        if gpus < 1:
            errors.append("the GPU variant sets no nvidia.com/gpu limit")
        if devices != ["cuda:0"]:
            errors.append(f"the GPU variant runs --devices="
                          f"{','.join(devices)}, expected cuda:0")
        if flags.get("dtype") != "bfloat16":
            errors.append(f"the GPU variant runs --dtype={flags.get('dtype')},"
                          f" expected bfloat16")
        if "cuda" not in container.get("image", ""):
            errors.append(f"the GPU variant uses image {container.get('image')}"
                          f", not a CUDA image")
    elif cuda_devices:
        errors.append(f"the CPU variant runs --devices={','.join(devices)}")
    if len(cuda_devices) > gpus:
        errors.append(f"--devices names {len(cuda_devices)} GPUs, the pod "
                      f"gets {gpus}")
    return errors


def adapter_metric_names(adapter_docs):
    """Return {published name: rule} of the Prometheus adapter rules."""
    published = {}
    for config_map in find_all(adapter_docs, "ConfigMap"):
        for text in config_map.get("data", {}).values():
            config = yaml.safe_load(text) or {}
            if not isinstance(config, dict):
                continue
            for rule in config.get("rules", []):
                name = rule.get("name", {}).get("as")
                if name:
                    published[name] = rule
    return published


def check_adapter_rules(adapter_docs):
    errors = []
    rules = adapter_metric_names(adapter_docs)
    if not rules:
        errors.append("no Prometheus adapter rule publishes a metric")
    for published, rule in rules.items():
        series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)",
                          rule.get("seriesQuery", ""))
        if series is None or series.group(1) not in EXPORTED_SERIES:
            errors.append(f"adapter rule {published} selects series "
                          f"{series.group(1) if series else None!r}, which "
                          f"the server does not export")
        for name in re.findall(r"\batman_[a-z_]+", rule.get("metricsQuery", "")):
            if name not in EXPORTED_SERIES:
                errors.append(f"adapter rule {published} queries {name}, "
                              f"which the server does not export")
        overrides = rule.get("resources", {}).get("overrides", {})
        for label in ("namespace", "pod"):
            if overrides.get(label, {}).get("resource") != label:
                errors.append(f"adapter rule {published} does not map the "
                              f"{label} label to the {label} resource")
    return errors


def check_hpa(docs, deployment, adapter_docs):
    errors = []
    hpas = find_all(docs, "HorizontalPodAutoscaler")
    if len(hpas) != 1:
        return [f"expected one HorizontalPodAutoscaler, found {len(hpas)}"]

    hpa = hpas[0]
    if hpa["apiVersion"] != "autoscaling/v2":
        errors.append(f"the HPA uses {hpa['apiVersion']}, not autoscaling/v2")
    target = hpa["spec"]["scaleTargetRef"]
    if (target.get("kind"), target.get("name")) != \
            ("Deployment", deployment["metadata"]["name"]):
        errors.append(f"the HPA scales {target.get('kind')} "
                      f"{target.get('name')}, not the server Deployment")
    min_replicas = hpa["spec"].get("minReplicas", 1)
    if hpa["spec"]["maxReplicas"] < min_replicas:
        errors.append("the HPA's maxReplicas is below minReplicas")

    published = adapter_metric_names(adapter_docs)
    queue_time_metrics = []
    for metric in hpa["spec"].get("metrics", []):
        kind = metric["type"]
        if kind not in ("Pods", "External"):
            continue
        name = metric[kind.lower()]["metric"]["name"]
        rule = published.get(name)
        if rule is None:
            errors.append(f"the HPA reads {name}, which no Prometheus adapter "
                          f"rule publishes")
        elif QUEUE_TIME_METRIC in rule.get("seriesQuery", ""):
            queue_time_metrics.append(name)
    if not queue_time_metrics:
        errors.append(f"no Pods or External HPA metric derives from "
                      f"{QUEUE_TIME_METRIC}")
    return errors


def check_pdb(docs, deployment):
    errors = []
    pdbs = find_all(docs, "PodDisruptionBudget")
    if not pdbs:
        return ["no PodDisruptionBudget"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    replicas = deployment["spec"].get("replicas", 1)
    for pdb in pdbs:
        name = pdb["metadata"]["name"]
        spec = pdb["spec"]
        if not labels_match(spec.get("selector", {}).get("matchLabels", {}),
                            pod_labels):
            errors.append(f"PodDisruptionBudget {name} does not select the "
                          f"server pods")
        if "minAvailable" not in spec and "maxUnavailable" not in spec:
            errors.append(f"PodDisruptionBudget {name} sets neither "
                          f"minAvailable nor maxUnavailable")
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int) and min_available >= replicas:
            errors.append(f"PodDisruptionBudget {name} minAvailable="
                          f"{min_available} blocks every eviction with "
                          f"{replicas} replicas")
    return errors


def check_service_monitor(docs, deployment, container, flags):
    errors = []
    monitors = find_all(docs, "ServiceMonitor")
    if not monitors:
        return ["no ServiceMonitor"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    metrics_port = int(flag_value(flags, "metrics_port"))
    for monitor in monitors:
        name = monitor["metadata"]["name"]
        if monitor["apiVersion"] != "monitoring.coreos.com/v1":
            errors.append(f"ServiceMonitor {name} uses {monitor['apiVersion']}")
        selector = monitor["spec"].get("selector", {}).get("matchLabels", {})
        services = [service for service in find_all(docs, "Service")
                    if labels_match(selector, service["metadata"].get("labels", {}))
                    and labels_match(service["spec"].get("selector", {}),
                                     pod_labels)]
        if not services:
            errors.append(f"ServiceMonitor {name} selects no Service of the "
                          f"server pods")
            continue
        for endpoint in monitor["spec"].get("endpoints", []):
            for service in services:
                ports = {port.get("name"): port
                         for port in service["spec"]["ports"]}
                port = ports.get(endpoint.get("port"))
                if port is None:
                    errors.append(f"ServiceMonitor {name} scrapes port "
                                  f"{endpoint.get('port')!r}, which Service "
                                  f"{service['metadata']['name']} lacks")
                    continue
                target = resolve_target_port(
                    port.get("targetPort", port["port"]), container)
                if target != metrics_port:
                    errors.append(f"ServiceMonitor {name} scrapes port "
                                  f"{target}, the metrics port is "
                                  f"{metrics_port}")
    return errors


def check_manifests(docs, adapter_docs, gpu, expected_uid=10001):
    """Check one rendered variant and return the error messages."""
    deployments = find_all(docs, "Deployment")
    if len(deployments) != 1:
        return [f"expected one Deployment, found {len(deployments)}"]
    deployment = deployments[0]
    pod_spec = deployment["spec"]["template"]["spec"]
    container = server_container(deployment)
    if container is None:
        return [f"the Deployment has no container named {SERVER_CONTAINER}"]
    errors = []
    flags = effective_flags(pod_spec, container, docs, errors)
    if not labels_match(deployment["spec"]["selector"].get("matchLabels", {}),
                        deployment["spec"]["template"]["metadata"]["labels"]):
        errors.append("the Deployment selector does not match its pods")
    errors += check_ports(container, flags)
    errors += check_services(docs, deployment, container, flags)
    errors += check_probes(container, flags)
    errors += check_termination(pod_spec, container, flags)
    errors += check_security(pod_spec, container, expected_uid)
    errors += check_volumes(pod_spec, container, flags)
    errors += check_resources(container)
    errors += check_devices(container, flags, gpu)
    errors += check_hpa(docs, deployment, adapter_docs)
    errors += check_pdb(docs, deployment)
    errors += check_service_monitor(docs, deployment, container, flags)
    return errors


# ---------------------------------------------------------------------------
# Dockerfile checks


def parse_dockerfile(text):
    """Return (stage index, instruction, arguments) for each instruction."""
    instructions = []
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        logical = ""
    stage = -1
    result = []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            stage += 1
        result.append((stage, keyword, arguments))
    return result


def copy_sources(arguments):
    """Return the sources of a COPY/ADD, or [] when it copies from a stage."""
    if arguments.startswith("["):
        words = yaml.safe_load(arguments)
    else:
        words = shlex.split(arguments)
    options = [word for word in words if word.startswith("--")]
    if any(option.startswith("--from=") for option in options):
        return []
    paths = [word for word in words if not word.startswith("--")]
    return paths[:-1]


def dockerignore_pattern(pattern):
    """Compile a .dockerignore pattern, in which '**' matches any folders."""
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            regex += ".*"
            index += 2
        elif pattern[index] == "*":
            regex += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            regex += "[^/]"
            index += 1
        else:
            regex += re.escape(pattern[index])
            index += 1
    return re.compile(regex + r"\Z")


def dockerignore_excludes(patterns, path):
    """Return whether the .dockerignore patterns exclude path.

    A pattern that matches a folder excludes everything in it, and a later
    '!' pattern re-includes what it matches.
    """
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        compiled = dockerignore_pattern(pattern.lstrip("!").strip("/"))
        if any(compiled.match(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def read_dockerignore(dockerfile, repo):
    """Return the patterns BuildKit uses for dockerfile's build context."""
    for candidate in (dockerfile + ".dockerignore",
                      os.path.join(repo, ".dockerignore")):
        if os.path.exists(candidate):
            with open(candidate, encoding="utf-8") as handle:
                return [line.strip() for line in handle
                        if line.strip() and not line.startswith("#")]
    return []


def check_dockerfile_copies(dockerfile, repo):
    errors = []
    with open(dockerfile, encoding="utf-8") as handle:
        instructions = parse_dockerfile(handle.read())
    ignore = read_dockerignore(dockerfile, repo)
    name = os.path.relpath(dockerfile, repo)
    for _, keyword, arguments in instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        for source in copy_sources(arguments):
            if not glob.glob(os.path.join(repo, source)):
                errors.append(f"{name}: COPY source {source} does not exist "
                              f"in the repository")
            elif dockerignore_excludes(ignore, source.rstrip("/")):
                errors.append(f"{name}: COPY source {source} is excluded by "
                              f"the .dockerignore")
    return errors


def check_dockerfile_runtime(dockerfile, repo, expected_entrypoint_flags):
    """Check the final stage: user, ports and entrypoint flags."""
    errors = []
    with open(dockerfile, encoding="utf-8") as handle:
        instructions = parse_dockerfile(handle.read())
    name = os.path.relpath(dockerfile, repo)
    last_stage = max(stage for stage, _, _ in instructions)
    final = [(keyword, arguments) for stage, keyword, arguments in instructions
             if stage == last_stage]

    users = [arguments for keyword, arguments in final if keyword == "USER"]
    if not users or users[-1].split(":")[0] != "10001":
        errors.append(f"{name}: the runtime stage does not run as uid 10001")
    exposed = set()
    for keyword, arguments in final:
        if keyword == "EXPOSE":
            exposed.update(port.split("/")[0] for port in arguments.split())
    expected_ports = {FLAG_DEFAULTS["port"], FLAG_DEFAULTS["metrics_port"]}
    if exposed != expected_ports:
        errors.append(f"{name}: EXPOSE {sorted(exposed)}, expected "
                      f"{sorted(expected_ports)}")

    entrypoints = [arguments for keyword, arguments in final
                   if keyword == "ENTRYPOINT"]
    if not entrypoints:
        return errors + [f"{name}: the runtime stage has no ENTRYPOINT"]
    words = yaml.safe_load(entrypoints[-1])
    for word in words[1:]:
        parsed = parse_flag(word)
        if parsed is None or parsed[0] not in SERVER_FLAGS:
            errors.append(f"{name}: ENTRYPOINT passes unknown flag {word}")
    for flag in expected_entrypoint_flags:
        if flag not in words:
            errors.append(f"{name}: ENTRYPOINT lacks {flag}")
    return errors


def runtime_packages(dockerfile_text):
    """Return the packages the final stage installs with apt-get install."""
    instructions = parse_dockerfile(dockerfile_text)
    last_stage = max(stage for stage, _, _ in instructions)
    packages = set()
    for stage, keyword, arguments in instructions:
        if stage != last_stage or keyword != "RUN":
            continue
        words = shlex.split(arguments)
        for index, word in enumerate(words):
            if word != "install" or index == 0 or \
                    "apt-get" not in words[index - 1::-1][:4]:
                continue
            for package in words[index + 1:]:
                if package in ("&&", "||", ";", "|"):
                    break
                if not package.startswith("-"):
                    packages.add(package.split("=")[0])
    return packages


# ---------------------------------------------------------------------------
# Shared library checks (need dpkg, ldd and readelf)


def ldd_libraries(binary):
    """Return {soname: resolved path or None} for every library ldd lists."""
    result = subprocess.run(["ldd", binary], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise CheckError(f"ldd {binary} failed: {result.stderr.strip()}")
    libraries = {}
    for line in result.stdout.splitlines():
        match = re.match(r"\s*(\S+) => (not found|(\S+))", line)
        if match:
            libraries[match.group(1)] = match.group(3)
    return libraries


def needed_libraries(binary):
    """Return the DT_NEEDED sonames of binary (its direct dependencies)."""
    readelf = shutil.which("readelf")
    if readelf is None:
        raise CheckError("readelf is missing; install binutils")
    result = subprocess.run([readelf, "-d", binary], capture_output=True,
                            text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                      result.stdout)


def package_owning(path):
    """Return the package that owns path, or None.

    dpkg records a path as packaged, while a merged-/usr system reaches the
    same file as /lib/... and /usr/lib/..., so each spelling is tried.
    """
    real = os.path.realpath(path)
    candidates = [path, real]
    for candidate in (path, real):
        if candidate.startswith("/usr/"):
            candidates.append(candidate[len("/usr"):])
        else:
            candidates.append("/usr" + candidate)
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True,
                                text=True, check=False)
        if result.returncode == 0:
            return result.stdout.split(":")[0].strip()
    return None


def installed_dependencies(package):
    """Return the packages apt installs for package's Depends by default.

    apt picks the first alternative of an "a | b" dependency, so only that
    one counts. Returns [] for a package that is not installed here.
    """
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Pre-Depends}, ${Depends}", package],
        capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return []
    dependencies = []
    for group in result.stdout.split(","):
        first = group.split("|")[0].strip()
        if first:
            dependencies.append(re.split(r"[\s:(]", first)[0])
    return dependencies


def dependency_closure(packages, dependencies_of):
    closure = set()
    pending = list(packages)
    while pending:
        package = pending.pop()
        if package in closure:
            continue
        closure.add(package)
        pending.extend(dependencies_of(package))
    return closure


def check_runtime_libraries(libraries, needed, named_packages, owner_of,
                            dependencies_of):
    """Check that the runtime stage provides every library of a binary.

    libraries maps each soname ldd lists to its path (None when not found),
    needed lists the sonames the binary links directly. A direct dependency's
    package must be named in the runtime stage; any other library's package
    must be named or come in through the Depends of a named package.
    """
    errors = []
    installed = dependency_closure(named_packages | BASE_PACKAGES,
                                   dependencies_of)
    for soname, path in sorted(libraries.items()):
        if path is None:
            errors.append(f"{soname} is not found on this machine")
            continue
        package = owner_of(path)
        if package is None:
            errors.append(f"{soname} ({path}) belongs to no Debian package")
        elif package in BASE_PACKAGES:
            continue
        elif soname in needed and package not in named_packages:
            errors.append(f"{soname} is linked directly; add its package "
                          f"{package} to the runtime stage")
        elif package not in installed:
            errors.append(f"{soname} comes from {package}, which the runtime "
                          f"stage does not install")
    return errors


# ---------------------------------------------------------------------------
# Command line


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True,
                        help="repository root (contains deploy/ and docker/)")
    parser.add_argument("--kubectl", default="kubectl",
                        help="kubectl executable (default: kubectl on PATH)")
    parser.add_argument("--binary",
                        help="built atman-server whose shared libraries the "
                             "runtime stage of docker/Dockerfile must provide")
    return parser.parse_args(argv)


def run_checks(arguments):
    """Run every check; return (errors, skipped reason or None)."""
    repo = os.path.abspath(arguments.repo)
    errors = []

    dockerfile = os.path.join(repo, "docker", "Dockerfile")
    cuda_dockerfile = os.path.join(repo, "docker", "Dockerfile.cuda")
    for path in (dockerfile, cuda_dockerfile):
        errors += check_dockerfile_copies(path, repo)
    base_flags = ["--model_repository=/models", "--address=0.0.0.0"]
    errors += check_dockerfile_runtime(dockerfile, repo, base_flags)
    errors += check_dockerfile_runtime(
        cuda_dockerfile, repo, base_flags + ["--devices=cuda:0",
                                             "--dtype=bfloat16"])

    if arguments.binary:
        if not os.path.exists(arguments.binary):
            raise CheckError(f"--binary {arguments.binary} does not exist")
        with open(dockerfile, encoding="utf-8") as handle:
            named = runtime_packages(handle.read())
        errors += check_binary_flags(arguments.binary)
        errors += [f"{arguments.binary}: {error}" for error in
                   check_runtime_libraries(
                       ldd_libraries(arguments.binary),
                       needed_libraries(arguments.binary), named,
                       package_owning, installed_dependencies)]

    kubectl = shutil.which(arguments.kubectl)
    if kubectl is None:
        return errors, (f"{arguments.kubectl} is not installed, so the "
                        f"Kubernetes manifests were not rendered or checked")
    adapter_docs = render_kustomization(
        kubectl, os.path.join(repo, "deploy", "prometheus-adapter"))
    errors += [f"deploy/prometheus-adapter: {error}"
               for error in check_adapter_rules(adapter_docs)]
    for variant, gpu in (("deploy/base", False), ("deploy/overlays/gpu", True)):
        docs = render_kustomization(kubectl, os.path.join(repo, variant))
        errors += [f"{variant}: {error}"
                   for error in check_manifests(docs, adapter_docs, gpu)]
    return errors, None


def check_binary_flags(binary):
    """Check that the server binary defines every flag in SERVER_FLAGS."""
    result = subprocess.run([binary, "--help"], capture_output=True,
                            text=True, check=False)
    listed = set(re.findall(r"^\s+-(\w+) \(", result.stdout + result.stderr,
                            re.MULTILINE))
    return [f"{binary} has no flag --{name}, but the manifests may use it"
            for name in sorted(SERVER_FLAGS - listed)]


def main(argv):
    arguments = parse_arguments(argv)
    try:
        errors, skipped = run_checks(arguments)
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for error in errors:
        print(f"FAIL: {error}")
    if errors:
        print(f"{len(errors)} check(s) failed")
        return 1
    if skipped:
        print(f"SKIP: {skipped}; the Docker checks passed")
        return SKIP_RETURN_CODE
    print("all deploy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
