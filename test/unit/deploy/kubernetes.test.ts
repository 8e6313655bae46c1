import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../../src/config/serve-config.js';
import { DEPLOY, SERVE_ENV_NAMES, durationSeconds, readYaml, readYamlDocuments } from './deploy-files.js';

const DIR = join(DEPLOY, 'kubernetes');
const MANIFEST_FILES = readdirSync(DIR).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml');
const objects = MANIFEST_FILES.flatMap((file) => readYamlDocuments(join(DIR, file)).map((object) => ({ file, ...object })));

function only(kind: string): any {
  const found = objects.filter((object) => object.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
}

/** True when every label the selector asks for is on the object. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe('deploy/kubernetes', () => {
  const deployment = only('Deployment');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  const service = only('Service');
  const configMap = only('ConfigMap');
  const secret = only('Secret');

  it('parses, and kustomization.yaml lists every manifest but the example Secret', () => {
    const kustomization = readYaml(join(DIR, 'kustomization.yaml'));
    for (const file of kustomization.resources) expect(existsSync(join(DIR, file)), file).toBe(true);
    expect([...kustomization.resources].sort()).toEqual(MANIFEST_FILES.filter((file) => file !== 'secret.example.yaml').sort());
    expect(secret.file).toBe('secret.example.yaml');
    expect(kustomization.images.map((image: { name: string }) => image.name)).toContain(container.image);
  });

  it('probes readiness on /readyz and liveness on /healthz at the container port', () => {
    const http = container.ports.find((port: { name: string }) => port.name === 'http');
    expect(http.containerPort).toBe(Number(configMap.data.RUNGATE_PORT));
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  });

  it('lets the 10 s shutdown finish after the preStop pause', () => {
    const pause = Number(container.lifecycle.preStop.exec.command[1]);
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(pause + 10);
  });

  it("runs as the image's node user, unprivileged, with resources set", () => {
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toEqual(expect.any(String));
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
  });

  it('takes its settings from the ConfigMap and the Secret, all of them variables rungate serve reads', () => {
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: secret.metadata.name } }]);
    const names = [...Object.keys(configMap.data), ...Object.keys(secret.stringData)];
    expect(names.filter((name) => !SERVE_ENV_NAMES.has(name))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['RUNGATE_PUBLIC_URL', 'RUNGATE_STORE', 'DOCLO_API_KEY', 'DOCLO_WEBHOOK_SECRET', 'RUNGATE_JWT_SECRET']));
    // Several replicas need a shared store, never the image's default SQLite file.
    expect(secret.stringData.RUNGATE_STORE).toMatch(/^(postgres|postgresql|redis|rediss):\/\//);
    const { RUNGATE_STORE: _store, ...checkable } = { ...configMap.data, ...secret.stringData };
    const config = loadServeConfig([], checkable);
    expect(config.publicUrl).toBe(configMap.data.RUNGATE_PUBLIC_URL);
    expect(config.port).toBe(Number(configMap.data.RUNGATE_PORT));
  });

  it('wires Service, PodDisruptionBudget and ServiceMonitor to the gateway pods', () => {
    const labels = pod.metadata.labels;
    expect(selects(deployment.spec.selector.matchLabels, labels)).toBe(true);
    expect(selects(service.spec.selector, labels)).toBe(true);
    expect(service.spec.ports[0].targetPort).toBe('http');
    const pdb = only('PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels, labels)).toBe(true);
    expect(pdb.spec.maxUnavailable ?? deployment.spec.replicas - pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    const monitor = only('ServiceMonitor');
    expect(selects(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: service.spec.ports[0].name, path: '/metrics' })]);
  });

  it('routes the host to the Service, with long unbuffered reads for /ws and the SSE routes', () => {
    const ingresses = objects.filter((object) => object.kind === 'Ingress');
    const paths = ingresses.flatMap((ingress) =>
      ingress.spec.rules.flatMap((rule: any) => rule.http.paths.map((path: any) => ({ ingress, path: path.path, backend: path.backend.service }))),
    );
    for (const { backend } of paths) expect(backend).toEqual({ name: service.metadata.name, port: { name: service.spec.ports[0].name } });
    const timeout = (ingress: any) => durationSeconds(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']);
    const route = (path: string) => paths.find((entry) => entry.path === path)!.ingress;
    expect(timeout(route('/'))).toBeGreaterThan(60);
    for (const stream of ['/ws', '/api/v1/(runs/[^/]+/)?events']) {
      expect(timeout(route(stream))).toBeGreaterThan(60);
      expect(route(stream).metadata.annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
    }
    expect(route('/metrics').metadata.annotations['nginx.ingress.kubernetes.io/whitelist-source-range']).toBe('127.0.0.1/32');
  });
});
