import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../../datastore';
import { crdDocuments } from '../../datastore/crds';

const DEPLOY = path.join(__dirname, '..', '..', '..', 'deploy');
/** What npm run build made: the CNI plugin's native front among them. */
const DIST_CNI_BIN = path.join(__dirname, '..', '..', 'cni-bin');

/** Each kind the manifest may hold, validated against the Kubernetes OpenAPI schema by kubernetes-models. */
const VALIDATORS: Record<string, (doc: object) => void> = {
  'v1/ConfigMap': (doc) => new ConfigMap(doc as ConfigMap).validate(),
  'v1/Namespace': (doc) => new Namespace(doc as Namespace).validate(),
  'v1/ServiceAccount': (doc) => new ServiceAccount(doc as ServiceAccount).validate(),
  'rbac.authorization.k8s.io/v1/ClusterRole': (doc) => new ClusterRole(doc as ClusterRole).validate(),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (doc) =>
    new ClusterRoleBinding(doc as ClusterRoleBinding).validate(),
  'apps/v1/DaemonSet': (doc) => new DaemonSet(doc as DaemonSet).validate(),
  'apiextensions.k8s.io/v1/CustomResourceDefinition': (doc) =>
    new CustomResourceDefinition(doc as CustomResourceDefinition).validate(),
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
}

function validate(doc: Manifest): void {
  const validator = VALIDATORS[`${doc.apiVersion}/${doc.kind}`];
  assert.ok(validator, `no validator for ${doc.apiVersion} ${doc.kind}`);
  validator(doc);
}

function loadManifests(file = 'tabby.yaml'): Manifest[] {
  const text = fs.readFileSync(path.join(DEPLOY, file), 'utf8');
  return parseAllDocuments(text)
    .map((document) => {
      assert.deepEqual(document.errors, []);
      return document.toJS() as Manifest | null;
    })
    .filter((doc): doc is Manifest => doc !== null);
}

const manifests = loadManifests();

function find<T>(kind: string, name: string): T {
  const doc = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(doc, `deploy/tabby.yaml has no ${kind} ${name}`);
  return doc as T;
}

const configMap = find<ConfigMap>('ConfigMap', 'tabby-config');
const daemonSet = find<DaemonSet>('DaemonSet', 'tabby-node');
const podSpec = daemonSet.spec?.template.spec;
assert.ok(podSpec, 'the DaemonSet has a pod template');
const tabbyNode = podSpec.containers.find((c) => c.name === 'tabby-node');
const installCni = podSpec.initContainers?.find((c) => c.name === 'install-cni');
assert.ok(tabbyNode && installCni, 'the DaemonSet has the tabby-node container and the install-cni init container');

function pluginsOf(conflist: { plugins: { type: string; ipam?: { type: string } }[] }): string[] {
  return conflist.plugins.map((p) => p.type);
}

describe('deploy/tabby.yaml', () => {
  it('is valid Kubernetes, every document', () => {
    assert.deepEqual(
      manifests.map((m) => `${m.kind}/${m.metadata.name}`),
      [
        'ConfigMap/tabby-config',
        'ServiceAccount/tabby-node',
        'ClusterRole/tabby-node',
        'ClusterRoleBinding/tabby-node',
        'DaemonSet/tabby-node',
      ],
    );
    for (const doc of manifests) validate(doc);
  });

  it('is checked for real: a DaemonSet without a selector fails validation', () => {
    const broken = structuredClone(daemonSet) as unknown as { spec: Record<string, unknown> };
    delete broken.spec.selector;
    assert.throws(() => validate(broken as unknown as Manifest), /selector/);
  });

  it('runs tabby-node on every node, in the host network, as a critical pod', () => {
    assert.equal(podSpec.hostNetwork, true);
    assert.equal(podSpec.priorityClassName, 'system-node-critical');
    assert.ok(podSpec.tolerations?.some((t) => t.operator === 'Exists' && t.key === undefined && !t.effect));
    assert.equal(podSpec.serviceAccountName, 'tabby-node');
    assert.deepEqual(daemonSet.spec?.selector.matchLabels, daemonSet.spec?.template.metadata?.labels);
  });

  it('gives tabby-node the environment it reads (CONTRACT §3)', () => {
    const env = new Map((tabbyNode.env ?? []).map((e) => [e.name, e]));
    for (const name of ['NODENAME', 'ETCD_ENDPOINTS', 'IP', 'IP_AUTODETECTION_METHOD', 'TABBY_RUN_DIR']) {
      assert.ok(env.has(name), `tabby-node has no ${name}`);
    }
    assert.equal(env.get('NODENAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    assert.deepEqual(env.get('ETCD_ENDPOINTS')?.valueFrom?.configMapKeyRef, {
      name: 'tabby-config',
      key: 'etcd_endpoints',
    });
    assert.equal(env.get('IP')?.value, 'autodetect');
    assert.equal(env.get('TABBY_RUN_DIR')?.value, '/var/run/tabby');
    assert.equal(env.get('DATASTORE_TYPE')?.value, 'etcdv3');
  });

  it('probes /liveness and /readiness on the health port 9099, at the pod (= node) address', () => {
    assert.deepEqual(tabbyNode.livenessProbe?.httpGet, { path: '/liveness', port: 9099 });
    assert.deepEqual(tabbyNode.readinessProbe?.httpGet, { path: '/readiness', port: 9099 });
  });

  it('holds a CNI config list of tabby, portmap and bandwidth with tabby-ipam', () => {
    const conflist = JSON.parse(configMap.data?.cni_network_config ?? '');
    assert.deepEqual(pluginsOf(conflist), ['tabby', 'portmap', 'bandwidth']);
    assert.equal(conflist.plugins[0].ipam.type, 'tabby-ipam');
    assert.equal(conflist.plugins[0].run_dir, '/var/run/tabby');
    assert.ok(configMap.data?.etcd_endpoints);
    assert.match(configMap.data?.veth_mtu ?? '', /^\d+$/);
  });

  it("mounts only volumes the pod has, the run dir the CNI plugin reads, and the runtime's pod namespaces", () => {
    const volumes = new Set((podSpec.volumes ?? []).map((v) => v.name));
    for (const container of [tabbyNode, installCni]) {
      for (const mount of container.volumeMounts ?? []) {
        assert.ok(volumes.has(mount.name), `${container.name} mounts ${mount.name}, which is not a volume`);
      }
    }
    const hostPaths = new Map((podSpec.volumes ?? []).map((v) => [v.name, v.hostPath?.path]));
    const mountedHostPaths = (container: typeof tabbyNode) =>
      (container.volumeMounts ?? []).map((m) => [hostPaths.get(m.name), m.mountPath]);
    assert.deepEqual(
      mountedHostPaths(tabbyNode).find(([host]) => host === '/var/run/tabby'),
      ['/var/run/tabby', '/var/run/tabby'],
    );
    // Namespaces the runtime makes after tabby-node started must show up inside its container too.
    const netns = (tabbyNode.volumeMounts ?? []).find((m) => hostPaths.get(m.name) === '/var/run/netns');
    assert.equal(netns?.mountPath, '/var/run/netns');
    assert.equal(netns?.mountPropagation, 'HostToContainer');
    assert.deepEqual(
      mountedHostPaths(installCni)
        .map(([host]) => host)
        .sort(),
      ['/etc/cni/net.d', '/opt/cni/bin', '/opt/tabby'],
    );
  });

  it('installs the CNI plugins with the init container, from the ConfigMap', () => {
    assert.deepEqual(installCni.command, ['/opt/tabby/install-cni.sh']);
    const env = new Map((installCni.env ?? []).map((e) => [e.name, e]));
    assert.equal(env.get('CNI_CONF_NAME')?.value, '10-tabby.conflist');
    assert.equal(env.get('CNI_NETWORK_CONFIG')?.valueFrom?.configMapKeyRef?.key, 'cni_network_config');
    assert.equal(env.get('ETCD_ENDPOINTS')?.valueFrom?.configMapKeyRef?.key, 'etcd_endpoints');
    assert.equal(env.get('CNI_MTU')?.valueFrom?.configMapKeyRef?.key, 'veth_mtu');
  });
});

describe('deploy/crds.yaml', () => {
  const crds = loadManifests('crds.yaml') as (Manifest & { spec: { names: { kind: string }; scope: string } })[];

  it('is what datastore/crds.ts generates, and every CRD is valid', () => {
    assert.deepEqual(crds, crdDocuments());
    for (const crd of crds) validate(crd);
  });

  it("defines Calico's CRDs for tabby's kinds under Calico's names and scopes", () => {
    const byKind = new Map(crds.map((c) => [c.spec.names.kind, c]));
    assert.equal(byKind.get('IPPool')?.metadata.name, 'ippools.crd.projectcalico.org');
    assert.equal(byKind.get('NetworkPolicy')?.spec.scope, 'Namespaced');
    assert.equal(byKind.get('GlobalNetworkPolicy')?.spec.scope, 'Cluster');
    // Kubernetes objects stand for these in Calico's Kubernetes datastore: no CRD.
    for (const kind of ['WorkloadEndpoint', 'Node', 'Profile']) assert.equal(byKind.has(kind), false, kind);
    // Every other Calico kind of tabby has its CRD (IPAMConfiguration as Calico's IPAMConfig), and IPAM its records.
    const calicoKinds = KINDS.filter((k) => k.group === 'projectcalico.org').map((k) => k.kind);
    for (const kind of calicoKinds.filter((k) => !['WorkloadEndpoint', 'Node', 'Profile'].includes(k))) {
      assert.ok(byKind.has(kind === 'IPAMConfiguration' ? 'IPAMConfig' : kind), kind);
    }
    for (const kind of ['IPAMBlock', 'BlockAffinity', 'IPAMHandle']) assert.ok(byKind.has(kind), kind);
  });
});

describe('deploy/install-cni.sh', () => {
  /** Runs install-cni against a fake image in a temporary directory, as the init container runs it on a host. */
  function installInto(cniMtu: string): { root: string; conflist: { plugins: Record<string, unknown>[] } } {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tabby-install-cni-'));
    const image = path.join(root, 'image');
    fs.mkdirSync(path.join(image, 'app', 'dist'), { recursive: true });
    fs.writeFileSync(path.join(image, 'app', 'dist', 'marker'), 'app');
    fs.mkdirSync(path.join(image, 'cni-bin'));
    // The native front, as the image holds it (built by npm run build), and the Node.js wrappers.
    fs.copyFileSync(path.join(DIST_CNI_BIN, 'tabby'), path.join(image, 'cni-bin', 'tabby'));
    for (const plugin of ['tabby-js', 'tabby-ipam']) {
      fs.copyFileSync(path.join(DEPLOY, 'cni-plugin.sh'), path.join(image, 'cni-bin', plugin));
    }
    execFileSync('sh', [path.join(DEPLOY, 'install-cni.sh')], {
      env: {
        PATH: process.env.PATH,
        TABBY_IMAGE_DIR: image,
        TABBY_HOST_DIR: path.join(root, 'host', 'opt', 'tabby'),
        CNI_BIN_DIR: path.join(root, 'host', 'opt', 'cni', 'bin'),
        CNI_NET_DIR: path.join(root, 'host', 'etc', 'cni', 'net.d'),
        CNI_CONF_NAME: '10-tabby.conflist',
        NODE_BINARY: process.execPath,
        CNI_NETWORK_CONFIG: configMap.data?.cni_network_config,
        ETCD_ENDPOINTS: 'http://192.0.2.10:2379',
        CNI_MTU: cniMtu,
      },
      stdio: 'pipe',
    });
    const conflistFile = path.join(root, 'host', 'etc', 'cni', 'net.d', '10-tabby.conflist');
    return { root, conflist: JSON.parse(fs.readFileSync(conflistFile, 'utf8')) };
  }

  it('copies the CNI plugins, the runtime they run on, and writes the conflist with the etcd endpoints', () => {
    const { root, conflist } = installInto('0');
    try {
      const bin = path.join(root, 'host', 'opt', 'cni', 'bin');
      for (const plugin of ['tabby', 'tabby-js', 'tabby-ipam']) {
        assert.equal(fs.statSync(path.join(bin, plugin)).mode & 0o777, 0o755);
      }
      assert.deepEqual(fs.readFileSync(path.join(bin, 'tabby')), fs.readFileSync(path.join(DIST_CNI_BIN, 'tabby')));
      for (const plugin of ['tabby-js', 'tabby-ipam']) {
        const wrapper = fs.readFileSync(path.join(bin, plugin), 'utf8');
        assert.equal(wrapper, fs.readFileSync(path.join(DEPLOY, 'cni-plugin.sh'), 'utf8'));
      }
      assert.equal(fs.readFileSync(path.join(root, 'host', 'opt', 'tabby', 'app', 'dist', 'marker'), 'utf8'), 'app');
      assert.ok(fs.statSync(path.join(root, 'host', 'opt', 'tabby', 'node')).isFile());
      assert.deepEqual(pluginsOf(conflist as never), ['tabby', 'portmap', 'bandwidth']);
      assert.equal(conflist.plugins[0].etcd_endpoints, 'http://192.0.2.10:2379');
      // MTU 0: left to the one tabby-node writes to <run-dir>/mtu.
      assert.equal('mtu' in conflist.plugins[0], false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('sets the MTU the ConfigMap gives', () => {
    const { root, conflist } = installInto('1440');
    fs.rmSync(root, { recursive: true, force: true });
    assert.equal(conflist.plugins[0].mtu, 1440);
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8');

  it('runs tabby-node and ships what install-cni and the plugin wrappers expect', () => {
    const entrypoints = dockerfile.match(/^ENTRYPOINT .*$/gm) ?? [];
    assert.equal(entrypoints.length, 1);
    assert.match(entrypoints[0], /dist\/bin\/tabby-node"\]$/);
    assert.match(dockerfile, /^COPY deploy\/install-cni\.sh \/opt\/tabby\/install-cni\.sh$/m);
    assert.match(dockerfile, /^COPY --from=build \/src\/dist\/cni-bin\/tabby \/opt\/tabby\/cni-bin\/tabby$/m);
    for (const plugin of ['tabby-js', 'tabby-ipam']) {
      assert.match(dockerfile, new RegExp(`^COPY deploy/cni-plugin\\.sh /opt/tabby/cni-bin/${plugin}$`, 'm'));
    }
    // The wrapper runs the app where install-cni puts it on the host.
    assert.match(dockerfile, /^WORKDIR \/opt\/tabby\/app$/m);
    assert.match(fs.readFileSync(path.join(DEPLOY, 'cni-plugin.sh'), 'utf8'), /\/opt\/tabby\/app\/dist\/cni-bin\//);
  });
});
