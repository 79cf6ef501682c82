import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import {
  installMocks,
  Recorder,
  settle,
  unwrap,
  isSecretInput,
  recordOptions,
  reveal,
} from "../support/mocks";
import { oneShotStartCommand } from "../../contract/pids-limits";
import { CLOUDFLARE_IP_RANGES, ORIGIN_PULL_CA_PEM } from "../../components/edge/cloudflare";
import { CLIENT_IP_HEADERS } from "../../components/edge/nginx/render";
import {
  CERT_PATH,
  CLIENT_CA_PATH,
  CONF_PATH,
  KEY_PATH,
  NGINX_CAPS,
  Proxy,
  WEIGHTS_PATH,
  WEIGHTS_SCRIPT,
  renderNginxConfig,
  renderSplitConfig,
  weightsCommand,
} from "../../components/edge/Proxy";
import type { NginxConfigInput } from "../../components/edge/nginx/render";

const C = "docker:index/container:Container";
const cfg = { image: "nginx:1.27.2", hstsMaxAgeSeconds: 31536000, minTlsVersion: "TLSv1.2" as const };
const input: NginxConfigInput = {
  domain: "app.example.com",
  routes: [
    { path: "/", upstream: "api:3000" },
    { path: "/admin", upstream: "admin:3001" },
  ],
  minTlsVersion: "TLSv1.2",
  hstsMaxAgeSeconds: 31536000,
  certPath: "/c.pem",
  keyPath: "/k.pem",
  workerUser: "nginx",
  healthPort: 8081,
  weightsPath: "/w.conf",
};

let rec: Recorder;
let opts: ReturnType<typeof recordOptions>;
let proxy: Proxy;
const CMD = "command:remote:Command";

before(async () => {
  rec = await installMocks("local");
  opts = recordOptions();
  proxy = new Proxy("proxy", {
    config: cfg,
    domain: "app.example.com",
    edgeNetwork: "net-edge",
    routes: [
      { path: "/", upstream: pulumi.output("api:3000") },
      { path: "/admin", upstream: "admin:3001" },
    ],
    certificatePem: "CERT",
    privateKeyPem: pulumi.secret("KEY"),
    pids: {
      engine: { ssh: { host: "203.0.113.10", port: 22, user: "deployer", privateKey: pulumi.secret("KEY") } },
      limit: 128,
    },
  });
  // A stack with a rollout: the weights step over SSH, the route split to the canary.
  const vpsSsh = { host: "vps", port: 22, user: "deployer", privateKey: pulumi.secret("K") };
  const withRollout = (canary: pulumi.Input<string>, weight: number) => ({
    config: cfg,
    domain: "app.example.com",
    edgeNetwork: "net-edge",
    routes: [
      { path: "/", upstream: "api:3000", canary: { upstream: canary, weight } },
      { path: "/admin", upstream: "admin:3001" },
    ],
    certificatePem: "CERT",
    privateKeyPem: pulumi.secret("KEY"),
    ports: { http: 8080, https: 8443 },
    connection: vpsSsh,
    pids: { engine: { ssh: vpsSsh }, limit: 128 },
  });
  new Proxy("edge", withRollout(pulumi.output("api-canary:3000"), 10));
  // The same proxy at the next step (50 %): only the weights step may differ.
  new Proxy("edge50", withRollout("api-canary:3000", 50));
  await settle();
});

test("split: weight 0 / none all stable, 100 all canary, else split_clients percent + map to the upstream", () => {
  const none = renderSplitConfig([{ upstream: "api:3000" }]);
  assert.match(none, /split_clients "\$\{request_id\}" \$lg_variant_0 \{\n {2}\* stable;\n\}/);
  assert.match(none, /map \$lg_variant_0 \$lg_upstream_0 \{\n {2}default api:3000;\n\}/);
  const zero = renderSplitConfig([
    { upstream: "api:3000", canary: { upstream: "api-canary:3000", weight: 0 } },
  ]);
  assert.match(zero, /\{\n {2}\* stable;\n\}/);
  assert.match(zero, /canary api-canary:3000;\n {2}default api:3000;/);
  const ten = renderSplitConfig([
    { upstream: "admin:3001" },
    { upstream: "api:3000", canary: { upstream: "api-canary:3000", weight: 10 } },
  ]);
  assert.match(ten, /\$lg_variant_1 \{\n {2}10% canary;\n {2}\* stable;\n\}/);
  const all = renderSplitConfig([
    { upstream: "api:3000", canary: { upstream: "api-canary:3000", weight: 100 } },
  ]);
  assert.match(all, /\{\n {2}\* canary;\n\}/);
  for (const weight of [-1, 101, 2.5, Number.NaN])
    assert.throws(
      () => renderSplitConfig([{ upstream: "api:3000", canary: { upstream: "api-canary:3000", weight } }]),
      /canary weight .* is not an integer 0\.\.100/,
    );
  assert.throws(
    () => renderSplitConfig([{ upstream: "api:3000", canary: { upstream: "x; return 200", weight: 5 } }]),
    /canary upstream .* is not alias:port/,
  );
});

test("config: JSON access log with app, variant, status and request time; the weights file included", () => {
  const conf = renderNginxConfig(input);
  assert.match(
    conf,
    /log_format launchgate escape=json '\{"lg":1,"msec":"\$msec","app":"\$lg_app","variant":"\$lg_variant","status":"\$status",'/,
  );
  assert.match(conf, /"request_time":"\$request_time"/);
  assert.match(conf, /access_log \/dev\/stdout launchgate;/);
});

test("weights: a weight change touches only the weights step, never the proxy container (no restart)", () => {
  const at10 = rec.one(C, "edge").inputs;
  const at50 = rec.one(C, "edge50").inputs;
  for (const field of ["uploads", "entrypoints", "command", "image", "healthcheck", "ports", "labels"])
    assert.deepEqual(reveal(at50[field]), reveal(at10[field]), field);
  assert.notEqual(rec.one(CMD, "edge50-weights").inputs.stdin, rec.one(CMD, "edge-weights").inputs.stdin);
  assert.match(rec.one(CMD, "edge50-weights").inputs.stdin, /50% canary;/);
});

test("weights: uploaded all-stable, no step without a connection", () => {
  const uploads = reveal<{ file: string; content: string }[]>(rec.one(C, "proxy").inputs.uploads);
  const w = uploads.find((u) => u.file === WEIGHTS_PATH)!;
  assert.equal(w.content, renderSplitConfig([{ upstream: "api:3000" }, { upstream: "admin:3001" }]));
  assert.equal(rec.ofType(CMD).filter((r) => r.name === "proxy-weights").length, 0);
});

test("weights: with a connection, a reload step writes the split over SSH and re-runs on a new proxy", () => {
  const step = rec.one(CMD, "edge-weights").inputs;
  assert.equal(step.create, weightsCommand("edge"));
  assert.equal(
    step.stdin,
    renderSplitConfig([
      { upstream: "api:3000", canary: { upstream: "api-canary:3000", weight: 10 } },
      { upstream: "admin:3001" },
    ]),
  );
  assert.equal(step.delete, undefined);
  assert.deepEqual(reveal<unknown[]>(step.triggers).length, 2);
  // The proxy starts all-stable, whatever the weights: a weight change never replaces it.
  const uploads = reveal<{ file: string; content: string }[]>(rec.one(C, "edge").inputs.uploads);
  assert.equal(
    uploads.find((u) => u.file === WEIGHTS_PATH)!.content,
    renderSplitConfig([{ upstream: "api:3000" }, { upstream: "admin:3001" }]),
  );
  assert.ok(opts.of(CMD, "edge-weights").dependencies.some((d) => d.endsWith("::edge")));
  // Reload, never restart; the rejected file is swapped back.
  assert.match(WEIGHTS_SCRIPT, /nginx -t .*mv "\$f\.old" "\$f".*exit 1/);
  assert.match(WEIGHTS_SCRIPT, /nginx -s reload/);
  assert.doesNotMatch(WEIGHTS_SCRIPT, /'|restart|docker stop/);
});

test("config: 80 only redirects to https, for the served names only", () => {
  const conf = renderNginxConfig(input);
  const at = conf.indexOf("    listen 80;\n");
  const http = conf.slice(at, conf.indexOf("  }\n", at));
  assert.match(http, /server_name app\.example\.com;/);
  assert.match(http, /return 301 https:\/\/\$host\$request_uri;/);
  assert.ok(!http.includes("proxy_pass"));
});

test("config: unknown hosts get nothing: 444 on 80, no TLS handshake on 443", () => {
  const conf = renderNginxConfig({ ...input, extraServerNames: ["api.app.example.com"] });
  assert.match(conf, /listen 80 default_server;\n\s+server_name _;\n\s+return 444;/);
  assert.match(conf, /listen 443 ssl http2 default_server;\n\s+server_name _;\n\s+ssl_reject_handshake on;/);
  assert.equal(conf.match(/default_server/g)?.length, 2, "only the catch-all servers are default");
  assert.match(conf, /server_name app\.example\.com api\.app\.example\.com;/);
  assert.throws(
    () => renderNginxConfig({ ...input, extraServerNames: ["a b;"] }),
    /server name "a b;" is not a DNS name/,
  );
});

test("config: the client address is nginx's; forwarding headers from clients are overwritten or removed", () => {
  const conf = renderNginxConfig(input);
  assert.match(conf, /proxy_set_header X-Forwarded-For \$remote_addr;/);
  assert.match(conf, /proxy_set_header X-Real-IP \$remote_addr;/);
  assert.doesNotMatch(conf, /proxy_add_x_forwarded_for/);
  for (const h of CLIENT_IP_HEADERS) assert.match(conf, new RegExp(`proxy_set_header ${h} "";`));
  assert.ok(CLIENT_IP_HEADERS.includes("CF-Connecting-IP") && CLIENT_IP_HEADERS.includes("Forwarded"));
  assert.doesNotMatch(conf, /real_ip_header|ssl_verify_client/, "no Cloudflare trust without `origin`");
});

test("config behind Cloudflare: CF-Connecting-IP believed only from the given ranges; client certificate required", () => {
  const conf = renderNginxConfig({
    ...input,
    origin: {
      trustedProxies: ["173.245.48.0/20", "2400:cb00::/32"],
      clientCaPath: "/etc/nginx/launchgate/tls/ca.pem",
    },
  });
  assert.match(
    conf,
    /set_real_ip_from 173\.245\.48\.0\/20;\n\s+set_real_ip_from 2400:cb00::\/32;\n\s+real_ip_header CF-Connecting-IP;/,
  );
  assert.match(
    conf,
    /ssl_client_certificate \/etc\/nginx\/launchgate\/tls\/ca\.pem;\n\s+ssl_verify_client on;/,
  );
  assert.match(conf, /error_page 495 496 = @no_client_certificate;/);
  assert.throws(
    () =>
      renderNginxConfig({
        ...input,
        origin: { trustedProxies: ["1.2.3.4/8; allow all"], clientCaPath: "/c.pem" },
      }),
    /trusted proxy range "1\.2\.3\.4\/8; allow all" is not a CIDR/,
  );
  assert.throws(
    () => renderNginxConfig({ ...input, origin: { trustedProxies: [], clientCaPath: "/c.pem" } }),
    /empty/,
  );
});

test("config: TLS 1.2+1.3 by default, only 1.3 when configured", () => {
  assert.match(renderNginxConfig(input), /ssl_protocols TLSv1\.2 TLSv1\.3;/);
  const only13 = renderNginxConfig({ ...input, minTlsVersion: "TLSv1.3" });
  assert.match(only13, /ssl_protocols TLSv1\.3;/);
  assert.ok(!/TLSv1(\.[01])?[ ;]/.test(only13));
  assert.ok(!/TLSv1\.1|SSLv3/.test(renderNginxConfig(input)));
});

test("config: HSTS with includeSubDomains and the security headers, on every response", () => {
  const conf = renderNginxConfig(input);
  assert.match(conf, /add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;/);
  assert.match(conf, /add_header X-Content-Type-Options "nosniff" always;/);
  assert.match(conf, /add_header X-Frame-Options "DENY" always;/);
  assert.match(conf, /add_header Referrer-Policy "strict-origin-when-cross-origin" always;/);
  assert.match(renderNginxConfig({ ...input, hstsMaxAgeSeconds: 600 }), /max-age=600; includeSubDomains/);
  assert.match(conf, /server_tokens off;/);
});

test("config: upstreams resolved per request through docker DNS", () => {
  const conf = renderNginxConfig(input);
  assert.match(conf, /resolver 127\.0\.0\.11 /);
  assert.match(
    conf,
    /location \/ \{\n\s+set \$lg_app api;\n\s+set \$lg_variant \$lg_variant_0;\n\s+proxy_pass http:\/\/\$lg_upstream_0;/,
  );
  assert.match(conf, /location = \/admin \{/);
  assert.match(conf, /location \^~ \/admin\/ \{\n\s+set \$lg_app admin;/);
  assert.match(conf, /include \/w\.conf;/);
  assert.match(conf, /ssl_certificate \/c\.pem;/);
  assert.match(conf, /ssl_certificate_key \/k\.pem;/);
  assert.match(conf, /pid \/tmp\/nginx\.pid;/);
});

test("config: refuses upstreams or paths that could inject nginx syntax", () => {
  assert.throws(
    () => renderNginxConfig({ ...input, routes: [{ path: "/", upstream: "api:3000; return 200" }] }),
    /alias:port/,
  );
  assert.throws(
    () => renderNginxConfig({ ...input, routes: [{ path: "/a {", upstream: "api:3000" }] }),
    /plain \/prefix/,
  );
  assert.throws(() => renderNginxConfig({ ...input, routes: [] }), /at least one route/);
  assert.throws(
    () => renderNginxConfig({ ...input, routes: [input.routes[0]!, input.routes[0]!] }),
    /declared twice/,
  );
});

test("container: the only published ports are 80 and 443, on the edge network only", () => {
  const c = rec.one(C, "proxy").inputs;
  assert.deepEqual(c.ports, [
    { internal: 80, external: 80, protocol: "tcp" },
    { internal: 443, external: 443, protocol: "tcp" },
  ]);
  assert.deepEqual(c.networksAdvanced, [{ name: "net-edge", aliases: ["proxy"] }]);
});

test("container: cert and key uploaded (key secret, 0600) with the rendered config", async () => {
  const c = rec.one(C, "proxy").inputs;
  assert.equal(isSecretInput(c.uploads), true);
  const uploads = reveal<{ file: string; content: string; permissions: string }[]>(c.uploads);
  const byFile = Object.fromEntries(uploads.map((u) => [u.file, u]));
  assert.equal(byFile[KEY_PATH]!.content, "KEY");
  assert.equal(byFile[KEY_PATH]!.permissions, "0600");
  assert.equal(byFile[CERT_PATH]!.content, "CERT");
  assert.equal(byFile[CONF_PATH]!.content, await unwrap(proxy.nginxConfig));
  assert.match(byFile[CONF_PATH]!.content, /server_name app\.example\.com;/);
});

test("container: writable root only for the uploads (documented exception), tmpfs, caps ALL dropped + only nginx's four, no-new-privileges", () => {
  const c = rec.one(C, "proxy").inputs;
  // Docker refuses uploads into a read-only rootfs; the services test proves the declared inputs.
  assert.equal(c.readOnly, false);
  assert.ok(c.tmpfs["/tmp"]);
  assert.deepEqual(c.capabilities, { drops: ["ALL"], adds: [...NGINX_CAPS] });
  assert.deepEqual([...NGINX_CAPS].sort(), ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]);
  assert.deepEqual(c.securityOpts, ["no-new-privileges:true"]);
  assert.equal(c.restart, "unless-stopped");
  assert.equal(c.memory, 128);
  assert.deepEqual(c.volumes, [{ volumeName: "proxy-conf", containerPath: "/etc/nginx/launchgate" }]);
});

test("validation: start command runs nginx -t first and refuses to start otherwise", () => {
  const script = rec.one(C, "proxy").inputs.command[0] as string;
  const t = script.indexOf("nginx -t");
  const run = script.indexOf("exec nginx");
  assert.ok(t >= 0 && run > t, script);
  assert.match(script, /refusing to start.*exit 1/s);
});

test("validation: a no-network one-shot nginx -t on the same files gates the swap", async () => {
  const j = rec.one(C, "proxy-config-check").inputs;
  assert.equal(j.networkMode, "none");
  assert.deepEqual(j.entrypoints, ["nginx"]);
  assert.deepEqual(j.command, ["-t", "-e", "stderr", "-c", CONF_PATH]);
  // Created stopped, started by its PIDs-limit command (job role limit) once the limit is set.
  assert.equal(j.start, false);
  assert.equal(j.mustRun, false);
  assert.equal(j.ports, undefined);
  assert.equal(
    rec.one(CMD, "proxy-config-check-pids-limit").inputs.create,
    oneShotStartCommand(64, j.name, 120),
  );
  assert.ok(opts.of(C, "proxy").dependencies.some((u) => u.endsWith("::proxy-config-check-pids-limit")));
  assert.deepEqual(reveal(j.uploads), reveal(rec.one(C, "proxy").inputs.uploads));
  const labels = rec.one(C, "proxy").inputs.labels as { label: string; value: string }[];
  assert.ok(labels.some((l) => l.label === "launchgate.config-checked" && /^[0-9a-f]{8}$/.test(l.value)));
  // Host ports cannot be shared: replaced delete-first, after the check.
  assert.equal(opts.of(C, "proxy").deleteBeforeReplace, true);
});

test("healthcheck: loopback /healthz, waited for", () => {
  const c = rec.one(C, "proxy").inputs;
  assert.deepEqual(c.healthcheck.tests, [
    "CMD",
    "curl",
    "-fsS",
    "-o",
    "/dev/null",
    "http://127.0.0.1:8081/healthz",
  ]);
  assert.equal(c.wait, true);
  assert.match(renderNginxConfig(input), /listen 127\.0\.0\.1:8081;/);
});

test("url output", async () => {
  assert.equal(await unwrap(proxy.url), "https://app.example.com");
});

test("behind Cloudflare: the origin-pull CA is uploaded beside the certificate; real_ip trusts Cloudflare's ranges", async () => {
  new Proxy("cfproxy", {
    config: cfg,
    domain: "app.example.com",
    extraServerNames: ["api.app.example.com"],
    edgeNetwork: "net-edge",
    routes: [{ path: "/", upstream: "api:3000" }],
    certificatePem: "CERT",
    privateKeyPem: pulumi.secret("KEY"),
    pids: {
      engine: { ssh: { host: "203.0.113.10", port: 22, user: "deployer", privateKey: pulumi.secret("KEY") } },
      limit: 128,
    },
    origin: { trustedProxies: CLOUDFLARE_IP_RANGES, clientCaPem: ORIGIN_PULL_CA_PEM },
  });
  await settle();
  const c = rec.one(C, "cfproxy").inputs;
  const uploads = reveal<{ file: string; content: string; permissions: string }[]>(c.uploads);
  const byFile = Object.fromEntries(uploads.map((u) => [u.file, u]));
  assert.equal(byFile[CLIENT_CA_PATH]!.content, ORIGIN_PULL_CA_PEM);
  assert.match(ORIGIN_PULL_CA_PEM, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
  const conf = byFile[CONF_PATH]!.content;
  for (const r of CLOUDFLARE_IP_RANGES) assert.ok(conf.includes(`set_real_ip_from ${r};`), r);
  assert.ok(conf.includes(`ssl_client_certificate ${CLIENT_CA_PATH};`));
  // The one-shot `nginx -t` check gets the same files, CA included.
  const check = rec.one(C, "cfproxy-config-check").inputs;
  assert.deepEqual(reveal(check.uploads), uploads);
});
