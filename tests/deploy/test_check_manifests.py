#!/usr/bin/env python3
"""Unit tests of check_manifests.py: valid inputs pass, broken ones fail."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import check_manifests as checker  # noqa: E402

MANIFESTS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: atman-flags-abc}
data:
  flags: |
    --port=50051
    --metrics_port=9090
    --drain_timeout_seconds=30
    --model_repository=/models
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: atman-server}
spec:
  replicas: 2
  selector: {matchLabels: {app: atman}}
  template:
    metadata: {labels: {app: atman}}
    spec:
      terminationGracePeriodSeconds: 45
      securityContext: {runAsNonRoot: true, runAsUser: 10001}
      containers:
        - name: atman-server
          image: atman-server:1
          args: [--flagfile=/etc/atman/flags]
          ports:
            - {name: grpc, containerPort: 50051}
            - {name: metrics, containerPort: 9090}
          startupProbe: {grpc: {port: 50051}}
          readinessProbe: {grpc: {port: 50051}}
          livenessProbe: {grpc: {port: 50051}}
          lifecycle: {preStop: {exec: {command: [sleep, "5"]}}}
          resources:
            requests: {cpu: "1", memory: 1Gi}
            limits: {memory: 1Gi}
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          volumeMounts:
            - {name: flags, mountPath: /etc/atman}
            - {name: models, mountPath: /models, readOnly: true}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - {name: flags, configMap: {name: atman-flags-abc}}
        - name: models
          persistentVolumeClaim: {claimName: atman-models, readOnly: true}
        - {name: tmp, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: atman, labels: {app: atman}}
spec:
  selector: {app: atman}
  ports: [{name: grpc, port: 50051, targetPort: grpc}]
---
apiVersion: v1
kind: Service
metadata: {name: atman-metrics, labels: {app: atman, role: metrics}}
spec:
  selector: {app: atman}
  ports: [{name: metrics, port: 9090, targetPort: 9090}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: atman-server}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: atman-server}
  minReplicas: 2
  maxReplicas: 4
  metrics:
    - type: Pods
      pods:
        metric: {name: atman_queue_time_seconds_average}
        target: {type: AverageValue, averageValue: 500m}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: atman-server}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: atman}}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: atman-server}
spec:
  selector: {matchLabels: {role: metrics}}
  endpoints: [{port: metrics}]
"""

ADAPTER = """
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus-adapter-atman}
data:
  config.yaml: |
    rules:
      - seriesQuery: 'atman_queue_time_seconds_sum{namespace!="",pod!=""}'
        resources:
          overrides:
            namespace: {resource: namespace}
            pod: {resource: pod}
        name: {matches: "^atman_queue_time_seconds_sum$", as: atman_queue_time_seconds_average}
        metricsQuery: 'sum(rate(atman_queue_time_seconds_sum{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
"""


def parse(text):
    return checker.parse_documents(text)


def deployment_of(docs):
    return checker.find_one(docs, "Deployment")


def container_of(docs):
    return checker.server_container(deployment_of(docs))


class ManifestCheckTest(unittest.TestCase):
    def setUp(self):
        self.docs = parse(MANIFESTS)
        self.adapter = parse(ADAPTER)

    def errors(self, gpu=False):
        return checker.check_manifests(self.docs, self.adapter, gpu)

    def assertRejected(self, fragment, gpu=False):
        errors = self.errors(gpu)
        self.assertTrue(any(fragment in error for error in errors),
                        f"expected an error containing {fragment!r}, "
                        f"got {errors}")

    def test_valid_manifests_pass(self):
        self.assertEqual(self.errors(), [])
        self.assertEqual(checker.check_adapter_rules(self.adapter), [])

    def test_container_port_mismatch_rejected(self):
        container_of(self.docs)["ports"][0]["containerPort"] = 50052
        self.assertRejected("differ from --port=50051")

    def test_flagfile_port_change_rejected(self):
        config_map = checker.find_one(self.docs, "ConfigMap")
        config_map["data"]["flags"] = config_map["data"]["flags"].replace(
            "--port=50051", "--port=6000")
        self.assertRejected("readinessProbe checks port 50051")

    def test_unknown_flag_rejected(self):
        container_of(self.docs)["args"].append("--metric_port=9090")
        self.assertRejected("unknown flag --metric_port")

    def test_http_probe_rejected(self):
        container_of(self.docs)["livenessProbe"] = {
            "httpGet": {"port": 9090, "path": "/metrics"}}
        self.assertRejected("livenessProbe is not a gRPC probe")

    def test_service_target_mismatch_rejected(self):
        service = checker.find_one(self.docs, "Service", "atman-metrics")
        service["spec"]["ports"][0]["targetPort"] = 8080
        self.assertRejected("which is no container port")

    def test_short_grace_period_rejected(self):
        deployment_of(self.docs)["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"] = 35
        self.assertRejected("must exceed --drain_timeout_seconds=30")

    def test_missing_prestop_rejected(self):
        del container_of(self.docs)["lifecycle"]
        self.assertRejected("no preStop sleep")

    def test_shell_prestop_sleep_parsed(self):
        container_of(self.docs)["lifecycle"]["preStop"]["exec"]["command"] = [
            "/bin/sh", "-c", "sleep 20"]
        self.assertRejected("preStop sleep of 20 s")

    def test_writable_root_rejected(self):
        container_of(self.docs)["securityContext"][
            "readOnlyRootFilesystem"] = False
        self.assertRejected("readOnlyRootFilesystem is not true")

    def test_root_user_rejected(self):
        deployment_of(self.docs)["spec"]["template"]["spec"][
            "securityContext"] = {"runAsUser": 0}
        self.assertRejected("runAsNonRoot is not true")

    def test_missing_requests_rejected(self):
        del container_of(self.docs)["resources"]["requests"]
        self.assertRejected("resources.requests.cpu is missing")

    def test_writable_models_rejected(self):
        container_of(self.docs)["volumeMounts"][1]["readOnly"] = False
        self.assertRejected("model volume is not mounted read-only")

    def test_gpu_variant_without_gpu_rejected(self):
        self.assertRejected("sets no nvidia.com/gpu limit", gpu=True)
        self.assertRejected("expected cuda:0", gpu=True)

    def test_gpu_variant_passes(self):
        container = container_of(self.docs)
        container["resources"]["limits"]["nvidia.com/gpu"] = 1
        container["image"] = "atman-server:1-cuda"
        container["args"] += ["--devices=cuda:0", "--dtype=bfloat16"]
        self.assertEqual(self.errors(gpu=True), [])

    def test_hpa_metric_without_rule_rejected(self):
        hpa = checker.find_one(self.docs, "HorizontalPodAutoscaler")
        hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] = "queue_p90"
        self.assertRejected("no Prometheus adapter rule publishes")

    def test_hpa_wrong_target_rejected(self):
        hpa = checker.find_one(self.docs, "HorizontalPodAutoscaler")
        hpa["spec"]["scaleTargetRef"]["name"] = "other"
        self.assertRejected("not the server Deployment")

    def test_pdb_selector_mismatch_rejected(self):
        pdb = checker.find_one(self.docs, "PodDisruptionBudget")
        pdb["spec"]["selector"]["matchLabels"] = {"app": "other"}
        self.assertRejected("does not select the server pods")

    def test_pdb_blocking_eviction_rejected(self):
        pdb = checker.find_one(self.docs, "PodDisruptionBudget")
        pdb["spec"] = {"minAvailable": 2,
                       "selector": {"matchLabels": {"app": "atman"}}}
        self.assertRejected("blocks every eviction")

    def test_service_monitor_port_name_rejected(self):
        monitor = checker.find_one(self.docs, "ServiceMonitor")
        monitor["spec"]["endpoints"][0]["port"] = "http-metrics"
        self.assertRejected("scrapes port 'http-metrics'")

    def test_broken_yaml_rejected(self):
        with self.assertRaises(checker.CheckError):
            parse("kind: Deployment\n  spec: [unclosed\n")


class AdapterRuleTest(unittest.TestCase):
    def test_unexported_metric_rejected(self):
        adapter = parse(ADAPTER.replace("atman_queue_time_seconds_sum{",
                                        "atman_queue_seconds_sum{"))
        errors = checker.check_adapter_rules(adapter)
        self.assertTrue(any("does not export" in error for error in errors),
                        errors)

    def test_histogram_series_exported(self):
        self.assertIn("atman_queue_time_seconds_bucket",
                      checker.EXPORTED_SERIES)
        self.assertNotIn("atman_queue_time_seconds", checker.EXPORTED_SERIES)


class DockerfileTest(unittest.TestCase):
    DOCKERFILE = """# syntax=docker/dockerfile:1
FROM debian:bookworm AS build
COPY CMakeLists.txt ./
COPY server/ server/
RUN make

FROM debian:bookworm-slim
RUN apt-get update \\
 && apt-get install -y --no-install-recommends \\
      libtorch1.13 \\
      libgrpc++1.51 \\
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/atman-server /usr/local/bin/
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/atman-server", "--model_repository=/models", "--address=0.0.0.0"]
"""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.repo = self.directory.name
        os.makedirs(os.path.join(self.repo, "server"))
        os.makedirs(os.path.join(self.repo, "docker"))
        with open(os.path.join(self.repo, "CMakeLists.txt"), "w") as handle:
            handle.write("project(x)\n")
        self.dockerfile = os.path.join(self.repo, "docker", "Dockerfile")

    def tearDown(self):
        self.directory.cleanup()

    def write(self, text, ignore=None):
        with open(self.dockerfile, "w") as handle:
            handle.write(text)
        if ignore is not None:
            with open(self.dockerfile + ".dockerignore", "w") as handle:
                handle.write(ignore)

    def test_valid_dockerfile_passes(self):
        self.write(self.DOCKERFILE)
        self.assertEqual(
            checker.check_dockerfile_copies(self.dockerfile, self.repo), [])
        self.assertEqual(checker.check_dockerfile_runtime(
            self.dockerfile, self.repo, ["--address=0.0.0.0"]), [])

    def test_missing_copy_source_rejected(self):
        self.write(self.DOCKERFILE.replace("COPY server/", "COPY client/"))
        errors = checker.check_dockerfile_copies(self.dockerfile, self.repo)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("COPY source client/ does not exist", errors[0])

    def test_ignored_copy_source_rejected(self):
        self.write(self.DOCKERFILE, ignore="build*\nserv?r\n")
        errors = checker.check_dockerfile_copies(self.dockerfile, self.repo)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("excluded by the .dockerignore", errors[0])

    def test_root_runtime_user_rejected(self):
        self.write(self.DOCKERFILE.replace("USER 10001:10001", "USER root"))
        errors = checker.check_dockerfile_runtime(self.dockerfile, self.repo,
                                                  [])
        self.assertIn("does not run as uid 10001", errors[0])

    def test_runtime_packages_parsed(self):
        self.assertEqual(checker.runtime_packages(self.DOCKERFILE),
                         {"libtorch1.13", "libgrpc++1.51"})


class RuntimeLibraryTest(unittest.TestCase):
    OWNERS = {"/lib/libtorch.so.1.13": "libtorch1.13",
              "/lib/libgrpc++.so.1.51": "libgrpc++1.51",
              "/lib/libgpr.so.29": "libgrpc29",
              "/lib/libc.so.6": "libc6"}
    DEPENDS = {"libtorch1.13": ["libc6"], "libgrpc++1.51": ["libgrpc29"]}

    def check(self, libraries, needed, named):
        return checker.check_runtime_libraries(
            libraries, needed, named, self.OWNERS.get,
            lambda package: self.DEPENDS.get(package, []))

    def libraries(self):
        return {"libtorch.so.1.13": "/lib/libtorch.so.1.13",
                "libgrpc++.so.1.51": "/lib/libgrpc++.so.1.51",
                "libgpr.so.29": "/lib/libgpr.so.29",
                "libc.so.6": "/lib/libc.so.6"}

    def test_complete_runtime_stage_passes(self):
        errors = self.check(self.libraries(),
                            ["libtorch.so.1.13", "libgrpc++.so.1.51"],
                            {"libtorch1.13", "libgrpc++1.51"})
        self.assertEqual(errors, [])

    def test_unnamed_direct_dependency_rejected(self):
        errors = self.check(self.libraries(),
                            ["libtorch.so.1.13", "libgrpc++.so.1.51"],
                            {"libtorch1.13", "libgrpc29"})
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("add its package libgrpc++1.51", errors[0])

    def test_uninstalled_indirect_dependency_rejected(self):
        errors = self.check(self.libraries(), ["libtorch.so.1.13"],
                            {"libtorch1.13"})
        self.assertEqual(len(errors), 2, errors)

    def test_missing_library_rejected(self):
        libraries = self.libraries()
        libraries["libfoo.so.1"] = None
        errors = self.check(libraries, [], {"libtorch1.13", "libgrpc++1.51"})
        self.assertIn("libfoo.so.1 is not found", errors[0])

    def test_dependency_closure_follows_depends(self):
        closure = checker.dependency_closure(
            {"libgrpc++1.51"}, lambda package: self.DEPENDS.get(package, []))
        self.assertEqual(closure, {"libgrpc++1.51", "libgrpc29"})


if __name__ == "__main__":
    unittest.main()
