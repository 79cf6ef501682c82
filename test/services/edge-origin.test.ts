/**
 * The proxy's rendered nginx.conf in real nginx (the Debian-built test image): what reaches the
 * app, and what an unknown host or a client without Cloudflare's certificate gets (issue 11).
 *
 * Two proxies in front of one echo app (a second nginx answering with the request headers it
 * received):
 *   - `cf`: rendered as on a `cloudflare-origin` stack (real_ip from CF-Connecting-IP, client
 *     certificate required), with the test process's address (the bridge gateway) standing in
 *     for Cloudflare's ranges and a test CA standing in for Cloudflare's origin-pull CA;
 *   - `local`: rendered as on the local stack (no Cloudflare).
 * Clients: this process (via the gateway, "Cloudflare" for `cf`) and a container on the same
 * network (an address outside the trusted ranges: a direct visitor of the origin).
 *
 * Needs: docker engine, debootstrap (image build, cached by content hash), openssl. Run:
 *   node --import tsx --test test/services/edge-origin.test.ts
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ORIGIN_PULL_CA_PEM } from "../../components/edge/cloudflare";
import { CLIENT_IP_HEADERS, renderNginxConfig } from "../../components/edge/nginx/render";
import type { NginxConfigInput } from "../../components/edge/nginx/render";

const REPO = path.resolve(__dirname, "../..");
const ID = `lg-edge11-${process.pid}`;
const DOMAIN = "app.example.test";
const CONF = "/etc/nginx/launchgate";

function docker(args: string[], timeout = 60_000): string {
  return execFileSync("docker", args, {
    encoding: "utf8",
    timeout,
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
}

/** A CA and a certificate it signs (`name` is CN and, for servers, the DNS SAN). */
function makeCa(dir: string, name: string): void {
  openssl(
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"].concat([
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
    ]),
    dir,
  );
}
function makeCert(dir: string, ca: string, name: string, usage: "server" | "client"): void {
  openssl(
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${name}`].concat([
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    ]),
    dir,
  );
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    ext,
    usage === "server"
      ? `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth\n`
      : "extendedKeyUsage=clientAuth\n",
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
    ].concat(["-days", "2", "-extfile", ext, "-out", `${name}.pem`]),
    dir,
  );
}

interface Res {
  readonly status: number;
  readonly body: string;
}

/** One request; resolves with the response or rejects with the socket/TLS error. Bounded. */
function get(mod: typeof http | typeof https, opts: https.RequestOptions): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = mod.request({ timeout: 5000, ...opts }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** The echo app's answer as a map of header name → value ("" when absent). */
function echoed(body: string): Record<string, string> {
  return Object.fromEntries(
    body
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

/** Echo app config: every client-IP header the proxy could pass, one `name=value` a line. */
const ECHO_HEADERS = ["X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", ...CLIENT_IP_HEADERS];
const nginxVar = (h: string) => `$http_${h.toLowerCase().replace(/-/g, "_")}`;
const ECHO_CONF = `
user nginx;
pid /tmp/echo.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  server {
    listen 3000;
    location / {
      default_type text/plain;
      return 200 "${ECHO_HEADERS.map((h) => `${h}=${nginxVar(h)}`).join("\\n")}\\nremote=$remote_addr\\n";
    }
  }
}
`;

/** Forged values a client sends for every header in ECHO_HEADERS. */
const FORGED = "203.0.113.66";
const forgedHeaders = Object.fromEntries(
  ECHO_HEADERS.filter((h) => h !== "X-Forwarded-Proto").map((h) => [
    h,
    h === "Forwarded" ? `for=${FORGED}` : FORGED,
  ]),
);

describe(
  "proxy config in real nginx: origin lockdown and forwarded headers",
  { timeout: 10 * 60_000 },
  () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${ID}-`));
    let image = "";
    let gateway = "";
    const ip: Record<string, string> = {};
    const tls = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");

    /** Starts nginx with `conf` and the test's TLS files mounted at CONF; returns its bridge IP. */
    function startNginx(name: string, conf: string, alias?: string): string {
      const d = path.join(dir, name);
      fs.mkdirSync(path.join(d, "tls"), { recursive: true });
      fs.writeFileSync(path.join(d, "nginx.conf"), conf);
      for (const [src, dest] of [
        ["server.pem", "cert.pem"],
        ["server.key", "key.pem"],
        ["origin-ca.pem", "origin-pull-ca.pem"],
      ] as const)
        fs.copyFileSync(path.join(dir, src), path.join(d, "tls", dest));
      docker([
        "run",
        "-d",
        "--name",
        `${ID}-${name}`,
        "--network",
        ID,
        ...(alias ? ["--network-alias", alias] : []),
        "-v",
        `${d}:${CONF}:ro`,
        image,
        "nginx",
        "-c",
        `${CONF}/nginx.conf`,
        "-g",
        "daemon off;",
      ]);
      for (let i = 0; i < 40; i++) {
        const state = docker(["inspect", "-f", "{{.State.Running}}", `${ID}-${name}`]);
        if (state !== "true")
          assert.fail(
            `${name} exited:\n${spawnSync("docker", ["logs", `${ID}-${name}`], { encoding: "utf8" }).stderr}`,
          );
        if (spawnSync("docker", ["exec", `${ID}-${name}`, "sh", "-c", "test -s /tmp/*.pid"]).status === 0)
          break;
        spawnSync("sleep", ["0.25"]);
      }
      return docker([
        "inspect",
        "-f",
        `{{(index .NetworkSettings.Networks "${ID}").IPAddress}}`,
        `${ID}-${name}`,
      ]);
    }

    const base = (origin?: NginxConfigInput["origin"]): NginxConfigInput => ({
      domain: DOMAIN,
      routes: [{ path: "/", upstream: "echo:3000" }],
      minTlsVersion: "TLSv1.2",
      hstsMaxAgeSeconds: 600,
      certPath: `${CONF}/tls/cert.pem`,
      keyPath: `${CONF}/tls/key.pem`,
      workerUser: "nginx",
      healthPort: 8081,
      origin,
    });

    before(() => {
      image = execFileSync(path.join(REPO, "test/support/images/build.sh"), ["nginx"], {
        encoding: "utf8",
        timeout: 600_000,
        stdio: ["ignore", "pipe", "pipe"],
      })
        .trim()
        .split("\n")
        .pop()!;
      makeCa(dir, "site-ca");
      makeCert(dir, "site-ca", DOMAIN, "server");
      fs.renameSync(path.join(dir, `${DOMAIN}.pem`), path.join(dir, "server.pem"));
      fs.renameSync(path.join(dir, `${DOMAIN}.key`), path.join(dir, "server.key"));
      makeCa(dir, "origin-ca"); // stands in for Cloudflare's origin-pull CA
      makeCert(dir, "origin-ca", "cloudflare-edge", "client");
      makeCa(dir, "other-ca");
      makeCert(dir, "other-ca", "someone-else", "client");
      docker(["network", "create", ID]);
      gateway = docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", ID]);
      ip.echo = startNginx("echo", ECHO_CONF, "echo");
      ip.cf = startNginx(
        "cf",
        renderNginxConfig(
          base({ trustedProxies: [`${gateway}/32`], clientCaPath: `${CONF}/tls/origin-pull-ca.pem` }),
        ),
      );
      ip.local = startNginx("local", renderNginxConfig(base()));
    });

    after(() => {
      for (const n of ["echo", "cf", "local", "check"]) spawnSync("docker", ["rm", "-f", `${ID}-${n}`]);
      spawnSync("docker", ["network", "rm", ID]);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const asCloudflare = (host: string, headers: Record<string, string> = {}) =>
      get(https, {
        host,
        port: 443,
        servername: DOMAIN,
        ca: tls("site-ca.pem"),
        cert: tls("cloudflare-edge.pem"),
        key: tls("cloudflare-edge.key"),
        path: "/",
        headers: { host: DOMAIN, ...headers },
      });

    it("the configs as rendered pass `nginx -t`, also with Cloudflare's real origin-pull CA", () => {
      const d = path.join(dir, "check");
      fs.mkdirSync(path.join(d, "tls"), { recursive: true });
      fs.copyFileSync(path.join(dir, "server.pem"), path.join(d, "tls/cert.pem"));
      fs.copyFileSync(path.join(dir, "server.key"), path.join(d, "tls/key.pem"));
      fs.writeFileSync(path.join(d, "tls/origin-pull-ca.pem"), ORIGIN_PULL_CA_PEM);
      fs.writeFileSync(
        path.join(d, "nginx.conf"),
        renderNginxConfig(
          base({
            trustedProxies: ["173.245.48.0/20", "2400:cb00::/32"],
            clientCaPath: `${CONF}/tls/origin-pull-ca.pem`,
          }),
        ),
      );
      const r = spawnSync(
        "docker",
        [
          "run",
          "--rm",
          "--name",
          `${ID}-check`,
          "--network",
          "none",
          "-v",
          `${d}:${CONF}:ro`,
          image,
          "nginx",
          "-t",
          "-c",
          `${CONF}/nginx.conf`,
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /syntax is ok/);
    });

    it("cloudflare-origin: the client address is CF-Connecting-IP from Cloudflare; forged headers never reach the app", async () => {
      const res = await asCloudflare(ip.cf!, { ...forgedHeaders, "CF-Connecting-IP": "198.51.100.7" });
      assert.equal(res.status, 200, res.body);
      const seen = echoed(res.body);
      assert.equal(seen["X-Forwarded-For"], "198.51.100.7");
      assert.equal(seen["X-Real-IP"], "198.51.100.7");
      assert.equal(seen["X-Forwarded-Proto"], "https");
      for (const h of CLIENT_IP_HEADERS) assert.equal(seen[h], "", `${h} passed through: ${seen[h]}`);
      assert.ok(!res.body.includes(FORGED), res.body);
    });

    it("cloudflare-origin: CF-Connecting-IP from outside Cloudflare's ranges is not believed", () => {
      // From the echo container: a direct visitor holding even a valid client certificate.
      const files = path.join(dir, "visitor");
      fs.mkdirSync(files, { recursive: true });
      for (const f of ["site-ca.pem", "cloudflare-edge.pem", "cloudflare-edge.key"])
        fs.copyFileSync(path.join(dir, f), path.join(files, f));
      docker(["cp", `${files}/.`, `${ID}-echo:/tmp/`]);
      const r = spawnSync(
        "docker",
        [
          "exec",
          `${ID}-echo`,
          "curl",
          "-sS",
          "--max-time",
          "5",
          "--resolve",
          `${DOMAIN}:443:${ip.cf}`,
          "--cacert",
          "/tmp/site-ca.pem",
          "--cert",
          "/tmp/cloudflare-edge.pem",
          "--key",
          "/tmp/cloudflare-edge.key",
          "-H",
          "CF-Connecting-IP: 198.51.100.7",
          "-H",
          `X-Forwarded-For: ${FORGED}`,
          `https://${DOMAIN}/`,
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      const seen = echoed(r.stdout);
      assert.equal(seen["X-Forwarded-For"], ip.echo, r.stdout);
      assert.equal(seen["X-Real-IP"], ip.echo, r.stdout);
      assert.ok(!r.stdout.includes("198.51.100.7") && !r.stdout.includes(FORGED), r.stdout);
    });

    it("cloudflare-origin: no Cloudflare client certificate, no answer", async () => {
      const noCert = get(https, {
        host: ip.cf,
        port: 443,
        servername: DOMAIN,
        ca: tls("site-ca.pem"),
        path: "/",
        headers: { host: DOMAIN },
      });
      await assert.rejects(noCert, /socket hang up|ECONNRESET|certificate/i);
      const otherCa = get(https, {
        host: ip.cf,
        port: 443,
        servername: DOMAIN,
        ca: tls("site-ca.pem"),
        cert: tls("someone-else.pem"),
        key: tls("someone-else.key"),
        path: "/",
        headers: { host: DOMAIN },
      });
      await assert.rejects(otherCa, /socket hang up|ECONNRESET|certificate|alert/i);
    });

    for (const which of ["cf", "local"] as const) {
      it(`${which}: an unknown Host gets no answer, on 443 (no handshake) and on 80 (connection closed)`, async () => {
        await assert.rejects(
          get(https, {
            host: ip[which],
            port: 443,
            servername: "unknown.example",
            rejectUnauthorized: false,
            path: "/",
            headers: { host: "unknown.example" },
          }),
          /alert|handshake|ECONNRESET|socket hang up/i,
        );
        // No SNI at all (a scan of the IP address).
        await assert.rejects(
          get(https, { host: ip[which], port: 443, rejectUnauthorized: false, path: "/" }),
          /alert|handshake|ECONNRESET|socket hang up/i,
        );
        await assert.rejects(
          get(http, { host: ip[which], port: 80, path: "/", headers: { host: "unknown.example" } }),
          /socket hang up|ECONNRESET/,
        );
        const known = await get(http, { host: ip[which], port: 80, path: "/x", headers: { host: DOMAIN } });
        assert.equal(known.status, 301);
      });
    }

    it("local: the app sees the connecting address, never the client's forwarding headers", async () => {
      const res = await get(https, {
        host: ip.local,
        port: 443,
        servername: DOMAIN,
        ca: tls("site-ca.pem"),
        path: "/",
        headers: { host: DOMAIN, ...forgedHeaders },
      });
      assert.equal(res.status, 200, res.body);
      const seen = echoed(res.body);
      assert.equal(seen["X-Forwarded-For"], gateway);
      assert.equal(seen["X-Real-IP"], gateway);
      for (const h of CLIENT_IP_HEADERS) assert.equal(seen[h], "", `${h} passed through: ${seen[h]}`);
      assert.ok(!res.body.includes(FORGED), res.body);
    });
  },
);
