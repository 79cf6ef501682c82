/** Cloudflare, secrets and host policies: a compliant resource, then one change per violation (exact messages). */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as cf from "../../policies/cloudflare";
import * as host from "../../policies/host";
import * as sec from "../../policies/secrets";
import { DEFAULT_SSH_CIPHERS, DEFAULT_SSH_KEX, DEFAULT_SSH_MACS } from "../../components/host/HardenedHost";
import { CLOUDFLARE_IPV4, CLOUDFLARE_IP_RANGES } from "../../contract/cloudflare";
import { REQUIRED_HOST_STEPS } from "../../contract/roles";
import { TLS12_CIPHERS } from "../../components/edge/nginx/render";
import { ResourceInput, runResourcePolicy, runStackPolicy } from "./harness";

const RECORD = "cloudflare:index/dnsRecord:DnsRecord";
const SETTING = "cloudflare:index/zoneSetting:ZoneSetting";
const CONTAINER = "docker:index/container:Container";
const REMOTE = "command:remote:Command";
const LOCAL = "command:local:Command";
const record = (proxied: boolean): ResourceInput => ({
  type: RECORD,
  name: "dns-a",
  props: { name: "a.example.com", type: "A", proxied },
});
const setting = (settingId: string, value: string): ResourceInput => ({
  type: SETTING,
  name: `dns-${settingId}`,
  props: { zoneId: "z", settingId, value },
});
const SAFE_SETTINGS = [
  setting("ssl", "strict"),
  setting("min_tls_version", "1.2"),
  setting("always_use_https", "on"),
  setting("tls_client_auth", "on"),
];

describe("cloudflare", () => {
  it("proxied records pass; a DNS-only origin record is refused", async () => {
    assert.deepEqual(await runResourcePolicy(cf.cloudflareRecordsProxied, record(true)), []);
    assert.deepEqual(await runResourcePolicy(cf.cloudflareRecordsProxied, record(false)), [
      "A a.example.com is DNS-only and exposes the origin's address; set launchgate:dns.proxied: true.",
    ]);
  });
  it("zone settings: each unsafe value refused with its fix", async () => {
    for (const s of SAFE_SETTINGS)
      assert.deepEqual(await runResourcePolicy(cf.cloudflareZoneSettingSafe, s), []);
    const cases: [string, string, string][] = [
      ["ssl", "full", 'zone setting ssl is "full"; set SSL/TLS mode Full (strict): `ssl = "strict"`.'],
      [
        "min_tls_version",
        "1.0",
        'zone setting min_tls_version is "1.0"; set minimum TLS 1.2: `min_tls_version = "1.2"`.',
      ],
      [
        "always_use_https",
        "off",
        'zone setting always_use_https is "off"; set Always Use HTTPS: `always_use_https = "on"`.',
      ],
      [
        "tls_client_auth",
        "off",
        'zone setting tls_client_auth is "off"; set Authenticated Origin Pulls: `tls_client_auth = "on"`.',
      ],
    ];
    for (const [id, v, msg] of cases)
      assert.deepEqual(await runResourcePolicy(cf.cloudflareZoneSettingSafe, setting(id, v)), [msg]);
  });
  it("a stack served through Cloudflare must manage every zone setting", async () => {
    assert.deepEqual(await runStackPolicy(cf.cloudflareZoneTls, [record(true), ...SAFE_SETTINGS]), []);
    assert.deepEqual(
      await runStackPolicy(cf.cloudflareZoneTls, [
        record(true),
        ...SAFE_SETTINGS.filter((s) => s.props.settingId !== "tls_client_auth"),
      ]),
      [
        'the stack serves through Cloudflare but does not manage tls_client_auth; set Authenticated Origin Pulls: `tls_client_auth = "on"` (Dns component).',
      ],
    );
    assert.deepEqual(await runStackPolicy(cf.cloudflareZoneTls, []), []);
  });
  it("no Page Rule, Configuration Rule or per-hostname setting weakens the zone's TLS for some traffic", async () => {
    const run = (type: string, props: Record<string, unknown>) =>
      runResourcePolicy(cf.cloudflareNoWeakerOverrides, {
        type: `cloudflare:index/${type}`,
        name: "o",
        props,
      });
    const rule = (actionParameters: Record<string, unknown>) => ({
      name: "cfg",
      phase: "http_config_settings",
      rules: [{ expression: '(http.host eq "api.example.com")', action: "set_config", actionParameters }],
    });
    assert.deepEqual(await run("ruleset:Ruleset", rule({ ssl: "strict" })), []);
    assert.deepEqual(await run("ruleset:Ruleset", rule({ ssl: "flexible" })), [
      'ruleset cfg rule "(http.host eq "api.example.com")" sets SSL "flexible" for the traffic it matches, below the zone\'s Full (strict); remove it or set SSL/TLS mode Full (strict): `ssl = "strict"`.',
    ]);
    assert.deepEqual(await run("ruleset:Ruleset", rule({ automaticHttpsRewrites: false })), [
      'ruleset cfg rule "(http.host eq "api.example.com")" turns Automatic HTTPS Rewrites off; remove the override.',
    ]);
    assert.deepEqual(
      await run("pageRule:PageRule", { target: "example.com/legacy/*", actions: { cacheLevel: "bypass" } }),
      [],
    );
    assert.deepEqual(
      await run("pageRule:PageRule", { target: "example.com/legacy/*", actions: { ssl: "off" } }),
      [
        'page rule example.com/legacy/* sets SSL "off" for the traffic it matches, below the zone\'s Full (strict); remove it or set SSL/TLS mode Full (strict): `ssl = "strict"`.',
      ],
    );
    assert.deepEqual(
      await run("pageRule:PageRule", { target: "example.com/*", actions: { disableSecurity: true } }),
      ["page rule example.com/* turns Cloudflare's security features off (disableSecurity); remove it."],
    );
    const host = (value: string) => ({ hostname: "admin.example.com", settingId: "min_tls_version", value });
    assert.deepEqual(await run("hostnameTlsSetting:HostnameTlsSetting", host("1.3")), []);
    assert.deepEqual(await run("hostnameTlsSetting:HostnameTlsSetting", host("1.0")), [
      'hostname admin.example.com sets min_tls_version "1.0", below the zone\'s; set minimum TLS 1.2: `min_tls_version = "1.2"`.',
    ]);
  });
  it("HSTS for at least a year", async () => {
    const proxy = (maxAge: number): ResourceInput => ({
      type: CONTAINER,
      name: "proxy",
      props: {
        uploads: [
          {
            file: "/etc/nginx/nginx.conf",
            content: `ssl_protocols TLSv1.2 TLSv1.3;\nssl_ciphers ${TLS12_CIPHERS};\nadd_header Strict-Transport-Security "max-age=${maxAge}" always;\n`,
          },
        ],
      },
    });
    assert.deepEqual(await runResourcePolicy(cf.proxyTls, proxy(31536000)), []);
    assert.deepEqual(await runResourcePolicy(cf.proxyTls, proxy(60)), [
      "nginx sends HSTS for only 60 s; browsers forget it within the hour: keep max-age ≥ 31536000 (one year; proxy.hstsMaxAgeSeconds).",
    ]);
  });
  it("plain HTTP only redirects (the origin's side of Always Use HTTPS)", () => {
    const conf = (port80: string) =>
      `http {\n  server {\n    listen 80 default_server;\n    return 444;\n  }\n  server {\n    listen 80;\n${port80}\n  }\n  server {\n    listen 127.0.0.1:8081;\n    root /srv/health;\n  }\n  server {\n    listen 443 ssl http2;\n    location / { proxy_pass http://app; }\n  }\n}\n`;
    assert.deepEqual(
      [...cf.plainHttpProblems(conf("    location / { return 301 https://$host$request_uri; }"))],
      [],
    );
    assert.deepEqual(
      [...cf.plainHttpProblems(conf("    location / {\n      proxy_pass http://app;\n    }"))],
      [
        "nginx serves content over plain HTTP (listen 80: proxy_pass); a port-80 server may only `return 301 https://$host$request_uri`.",
      ],
    );
    assert.deepEqual(
      [...cf.plainHttpProblems(conf("    root /srv/www;"))],
      [
        "nginx serves content over plain HTTP (listen 80: root); a port-80 server may only `return 301 https://$host$request_uri`.",
      ],
    );
  });
});

describe("origin lockdown (behind Cloudflare)", () => {
  const firewall = (from: string): ResourceInput => ({
    type: REMOTE,
    name: "host-firewall",
    props: {
      stdin: `export LG_WEB_ALLOW_FROM='${from}'\nufw --force enable`,
      triggers: ["launchgate.role=host-firewall"],
    },
  });
  const conf = (realIp: string[], verify = true) =>
    [
      "server {",
      "  ssl_certificate /etc/nginx/tls/cert.pem;",
      ...realIp.map((r) => `  set_real_ip_from ${r};`),
      "  real_ip_header CF-Connecting-IP;",
      ...(verify ? ["    ssl_verify_client on;"] : []),
      "}",
    ].join("\n");
  const proxy = (text: string): ResourceInput => ({
    type: CONTAINER,
    name: "proxy",
    props: {
      labels: [{ label: "launchgate.role", value: "proxy" }],
      uploads: [{ file: "/etc/nginx/nginx.conf", content: text }],
    },
  });
  const all = CLOUDFLARE_IP_RANGES.join(" ");
  it("Cloudflare's ranges only: passes", async () => {
    assert.deepEqual(
      await runStackPolicy(cf.originLockdown, [
        record(true),
        firewall(all),
        proxy(conf([...CLOUDFLARE_IP_RANGES])),
      ]),
      [],
    );
  });
  it("a stack not behind Cloudflare is not judged", async () => {
    assert.deepEqual(
      await runStackPolicy(cf.originLockdown, [firewall("any"), proxy(conf(["0.0.0.0/0"], false))]),
      [],
    );
  });
  it("the firewall open to everyone or another range, nginx trusting any address or no client certificate: refused", async () => {
    assert.deepEqual(await runStackPolicy(cf.originLockdown, [record(true), firewall("any")]), [
      "the firewall lets any reach 80/443 on a stack served through Cloudflare; allow only Cloudflare's ranges (HardenedHost webAllowFrom).",
    ]);
    assert.deepEqual(
      await runStackPolicy(cf.originLockdown, [
        record(true),
        firewall(`${CLOUDFLARE_IPV4[0]} 198.51.100.0/24`),
      ]),
      [
        "the firewall lets 198.51.100.0/24 reach 80/443 on a stack served through Cloudflare; allow only Cloudflare's ranges (HardenedHost webAllowFrom).",
      ],
    );
    assert.deepEqual(
      await runStackPolicy(cf.originLockdown, [record(true), proxy(conf(["0.0.0.0/0"], false))]),
      [
        "nginx believes CF-Connecting-IP from 0.0.0.0/0; trust only Cloudflare's ranges.",
        "nginx accepts TLS clients without Cloudflare's origin-pull certificate; set `ssl_verify_client on` (proxy `origin`).",
      ],
    );
  });
  it("proxy TLS 1.2 suites: forward-secret AEAD only", async () => {
    const nginx = (ciphers: string | undefined): ResourceInput => ({
      type: CONTAINER,
      name: "proxy",
      props: {
        uploads: [
          {
            content: `ssl_protocols TLSv1.2 TLSv1.3;\n${ciphers === undefined ? "" : `ssl_ciphers ${ciphers};\n`}add_header Strict-Transport-Security "max-age=31536000" always;`,
          },
        ],
      },
    });
    assert.deepEqual(await runResourcePolicy(cf.proxyTls, nginx(TLS12_CIPHERS)), []);
    assert.deepEqual(
      await runResourcePolicy(cf.proxyTls, nginx(`${TLS12_CIPHERS}:AES128-SHA:ECDHE-RSA-AES128-SHA256`)),
      [
        "nginx offers AES128-SHA, ECDHE-RSA-AES128-SHA256; offer only forward-secret AEAD suites (Mozilla intermediate, TLS12_CIPHERS).",
      ],
    );
    assert.deepEqual(await runResourcePolicy(cf.proxyTls, nginx(undefined)), [
      "nginx sets no ssl_ciphers (OpenSSL's defaults include CBC and static-RSA suites); keep TLS12_CIPHERS (Mozilla intermediate).",
    ]);
  });
});

describe("secrets", () => {
  const app = (envs: string[], labels: unknown[] = []): ResourceInput => ({
    type: CONTAINER,
    name: "app-api",
    props: { envs, labels },
  });
  it("placeholder values, weak URLs and credentials in labels or command text are refused", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        sec.noPlaintextSecrets,
        app(["LOG_LEVEL=info", "API_TOKEN=Zx8pQ2vL9mW4tR7yB3nK"]),
      ),
      [],
    );
    assert.deepEqual(await runResourcePolicy(sec.noPlaintextSecrets, app(["DB_PASSWORD=changeme"])), [
      "env DB_PASSWORD has a placeholder value; set it from a random password or a secret config key (pulumi config set --secret).",
    ]);
    assert.deepEqual(
      await runResourcePolicy(sec.noPlaintextSecrets, app(["DATABASE_URL=postgres://app:password@db/app"])),
      ["a connection URL embeds a well-known password; use a generated secret."],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.noPlaintextSecrets,
        app([], [{ label: "x", value: "sk_live_abcdefghijklmnop" }]),
      ),
      [
        "a label holds a credential (Stripe secret key); pass it on stdin, as a secret env entry or a secret file, never in labels.",
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(sec.noPlaintextSecrets, {
        type: REMOTE,
        name: "x",
        props: { create: "curl -H 'Authorization: token ghp_abcdefghijklmnopqrstuvwxyz0123456789' …" },
      }),
      [
        "the command text holds a credential (GitHub token); pass it on stdin, as a secret env entry or a secret file, never in the command text (visible in ps and docker inspect).",
      ],
    );
  });
  it("credentials written into command lines, healthchecks and command text are refused by name and flag", async () => {
    const withRun = (props: Record<string, unknown>): ResourceInput => ({
      type: CONTAINER,
      name: "redis",
      props,
    });
    assert.deepEqual(
      await runResourcePolicy(
        sec.noPlaintextSecrets,
        withRun({
          command: ["exec redis-server /tmp/auth.conf '--requirepass' 'Tq7pW2zL9mK4vX8' '--port' '6379'"],
          healthcheck: { tests: ["CMD-SHELL", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping'] },
        }),
      ),
      [
        "the command line holds a credential (--requirepass …); pass it on stdin, as a secret env entry or a secret file, never in the command line (visible in ps and docker inspect).",
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.noPlaintextSecrets,
        withRun({ healthcheck: { tests: ["CMD", "redis-cli", "-a", "Tq7pW2zL9mK4vX8", "ping"] } }),
      ),
      [
        "the healthcheck holds a credential (-a …); pass it on stdin, as a secret env entry or a secret file, never in the healthcheck (visible in ps and docker inspect).",
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(sec.noPlaintextSecrets, {
        type: REMOTE,
        name: "x",
        props: { create: "ssh -N …", update: "PGPASSWORD='Zx9!qT4#vLm2' psql -c 'select 1'" },
      }),
      [
        "the command text holds a credential (PGPASSWORD=…); pass it on stdin, as a secret env entry or a secret file, never in the command text (visible in ps and docker inspect).",
      ],
    );
    // References to the environment are how credentials should reach a command: not refused.
    assert.deepEqual(
      await runResourcePolicy(sec.noPlaintextSecrets, {
        type: REMOTE,
        name: "x",
        props: { create: 'PGPASSWORD="$LG_PG_PASSWORD" psql; docker run -a stdout img' },
      }),
      [],
    );
  });
  it("a credential file a host install writes from its command text is refused", async () => {
    const install = (path: string, content: string): ResourceInput => ({
      type: REMOTE,
      name: "backups-install",
      props: {
        create: `export LG_FILES='0600 ${path} LG_FILE_0'\nexport LG_FILE_0='${content}'\n`,
        triggers: ["launchgate.role=backup"],
      },
    });
    assert.deepEqual(
      await runResourcePolicy(sec.noPlaintextSecrets, install("/usr/local/lib/x.sh", "#!/bin/sh\n")),
      [],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.noPlaintextSecrets,
        install("/etc/launchgate/rsync.secret", "backup:Tr0ub4dor3x"),
      ),
      [
        "the command installs /etc/launchgate/rsync.secret with its content in the command text (visible in ps and the state); deliver a credential file on stdin (renderInstall stdinFile) from a Pulumi secret.",
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.noPlaintextSecrets,
        install("/usr/local/lib/b.sh", "#!/bin/sh\nexport LG_PG_PASSWORD='\\''Tr0ub4dor3x'\\''\n"),
      ),
      [
        "the command installs /usr/local/lib/b.sh holding a credential (LG_PG_PASSWORD=…); pass it on stdin or as a secret file, never in the installed text.",
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(sec.noPlaintextSecrets, install("/root/.pgpass", "*:*:*:backup:pw")),
      [
        "the command installs /root/.pgpass with its content in the command text (visible in ps and the state); deliver a credential file on stdin (renderInstall stdinFile) from a Pulumi secret.",
      ],
    );
  });
  const store = (engine: string, props: Record<string, unknown>): ResourceInput => ({
    type: CONTAINER,
    name: engine,
    props: {
      labels: [
        { label: "launchgate.role", value: "datastore" },
        { label: "launchgate.datastore", value: engine },
      ],
      ...props,
    },
  });
  it("every data store requires authentication", async () => {
    const redisOk = {
      command: [
        "printf 'requirepass \"%s\"' \"$REDIS_PASSWORD\" > f; exec redis-server f '--protected-mode' 'yes'",
      ],
    };
    assert.deepEqual(await runResourcePolicy(sec.datastoreAuthentication, store("redis", redisOk)), []);
    assert.deepEqual(
      await runResourcePolicy(
        sec.datastoreAuthentication,
        store("redis", { command: ["exec redis-server '--protected-mode' 'no'"] }),
      ),
      [
        "Redis has no requirepass; start it with the component's generated password.",
        "Redis runs with protected mode off; keep `--protected-mode yes`.",
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.datastoreAuthentication,
        store("postgres", { envs: ["POSTGRES_HOST_AUTH_METHOD=trust"] }),
      ),
      ["POSTGRES_HOST_AUTH_METHOD=trust lets clients in without SCRAM; remove it (default scram-sha-256)."],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.datastoreAuthentication,
        store("pgbouncer", { envs: ["PGBOUNCER_INI=[pgbouncer]\nauth_type = trust\n"] }),
      ),
      ["PgBouncer auth_type = trust authenticates nobody; set `auth_type = scram-sha-256`."],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.datastoreAuthentication,
        store("pgbouncer", { envs: ["PGBOUNCER_INI=[pgbouncer]\nauth_type = md5\n"] }),
      ),
      [
        "PgBouncer auth_type = md5 is not SCRAM (md5 hashes are weak, hba delegates to a file the pack cannot see); set `auth_type = scram-sha-256` (CIS PostgreSQL 16 §5).",
      ],
    );
    // Local connections too: trust lets any process in the container in as any role.
    assert.deepEqual(
      await runResourcePolicy(
        sec.datastoreAuthentication,
        store("postgres", { envs: ["POSTGRES_INITDB_ARGS=--auth-host=scram-sha-256 --auth-local=trust"] }),
      ),
      [
        "POSTGRES_INITDB_ARGS sets --auth-local=trust; use --auth-host=scram-sha-256 (and --auth-local=peer).",
      ],
    );
  });
  it("Swarm services' task templates are data stores too (env as a map)", async () => {
    const service = (engine: string, containerSpec: Record<string, unknown>): ResourceInput => ({
      type: "docker:index/service:Service",
      name: engine,
      props: {
        taskSpec: {
          containerSpec: {
            labels: [
              { label: "launchgate.role", value: "datastore" },
              { label: "launchgate.datastore", value: engine },
            ],
            ...containerSpec,
          },
        },
      },
    });
    assert.deepEqual(
      await runResourcePolicy(
        sec.datastoreAuthentication,
        service("postgres", { env: { POSTGRES_USER: "postgres", POSTGRES_HOST_AUTH_METHOD: "trust" } }),
      ),
      ["POSTGRES_HOST_AUTH_METHOD=trust lets clients in without SCRAM; remove it (default scram-sha-256)."],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.datastoreAuthentication,
        service("redis", { args: ["exec redis-server --appendonly yes"] }),
      ),
      ["Redis has no requirepass; start it with the component's generated password."],
    );
    assert.deepEqual(
      await runResourcePolicy(
        sec.datastoreAuthentication,
        service("pgbouncer", { env: { PGBOUNCER_INI: "[pgbouncer]\nauth_type = trust\n" } }),
      ),
      ["PgBouncer auth_type = trust authenticates nobody; set `auth_type = scram-sha-256`."],
    );
  });
});

describe("host", () => {
  const script = (f: string) =>
    fs.readFileSync(path.join(__dirname, "../../components/host/scripts", f), "utf8");
  const step = (role: string, stdin: string, type = REMOTE): ResourceInput => ({
    type,
    name: `host-${role}`,
    props: { stdin, triggers: [`launchgate.role=host-${role}`] },
  });
  /** sshd.sh as HardenedHost renders it: the algorithm lists exported above the script. */
  const sshdRendered = (kex = DEFAULT_SSH_KEX, ciphers = DEFAULT_SSH_CIPHERS, macs = DEFAULT_SSH_MACS) =>
    `export LG_SSH_KEX='${kex.join(",")}'\nexport LG_SSH_CIPHERS='${ciphers.join(",")}'\n` +
    `export LG_SSH_MACS='${macs.join(",")}'\n${script("sshd.sh")}`;
  it("the shipped scripts pass", async () => {
    for (const s of [
      "firewall",
      "fail2ban",
      "unattended-upgrades",
      "sysctl",
      "docker",
      "accounts",
      "auditd",
      "file-integrity",
    ])
      assert.deepEqual(await runResourcePolicy(host.hostStepEffective, step(s, script(`${s}.sh`))), [], s);
    assert.deepEqual(await runResourcePolicy(host.hostStepEffective, step("sshd", sshdRendered())), []);
    assert.deepEqual(
      await runResourcePolicy(host.hostStepEffective, step("bootstrap", script("bootstrap.sh"), LOCAL)),
      [],
    );
  });
  it("storage: no world-writable directory, backups private (LG_STORAGE_DIRS as rendered)", async () => {
    const storage = (dirs: string) =>
      step("storage", `export LG_STORAGE_DIRS='${dirs}'\n${script("storage.sh")}`);
    assert.deepEqual(
      await runResourcePolicy(host.hostStepEffective, storage(". 0750\nstorage 0750\nbackups 0700")),
      [],
    );
    assert.deepEqual(await runResourcePolicy(host.hostStepEffective, storage("storage/temp 1777")), [
      "storage step makes storage/temp world-writable (1777); no directory is writable by every account (CIS Debian 12 §7.1).",
    ]);
    assert.deepEqual(await runResourcePolicy(host.hostStepEffective, storage("storage/temp 0777")), [
      "storage step makes storage/temp world-writable (0777); no directory is writable by every account (CIS Debian 12 §7.1).",
    ]);
    assert.deepEqual(await runResourcePolicy(host.hostStepEffective, storage("backups 0755")), [
      "storage step opens the backups directory (0755) beyond its owner; dumps hold every row (keep 0700).",
    ]);
  });
  const changed: [string, string, string, string[]][] = [
    [
      "sshd",
      "PermitRootLogin no",
      "PermitRootLogin prohibit-password",
      [
        "sshd step sets permitrootlogin prohibit-password; it must be no (sshd uses the first value it reads).",
      ],
    ],
    [
      "sshd",
      "MaxAuthTries 2",
      "MaxAuthTries 6",
      ["sshd step sets maxauthtries 6; it must be 2 (at most 3) (sshd uses the first value it reads)."],
    ],
    [
      "sshd",
      "X11Forwarding no\n",
      "",
      ["sshd step does not set x11forwarding; declare it (no) in components/host/scripts/sshd.sh."],
    ],
    [
      "firewall",
      "set_default incoming deny",
      "set_default incoming allow",
      [
        "firewall step allows incoming traffic by default or disables UFW; keep default deny incoming.",
        "firewall step does not set default deny for incoming traffic; run `ufw default deny incoming`.",
      ],
    ],
    [
      "firewall",
      "ufw --force enable >/dev/null",
      "true",
      ["firewall step never enables UFW; run `ufw --force enable`."],
    ],
    [
      "fail2ban",
      "enabled  = true",
      "enabled  = false",
      ["fail2ban's sshd jail is not enabled; set `enabled = true` in its [sshd] section."],
    ],
    [
      "unattended-upgrades",
      'APT::Periodic::Unattended-Upgrade "1"',
      'APT::Periodic::Unattended-Upgrade "0"',
      ['unattended-upgrades step does not turn APT::Periodic::Unattended-Upgrade on; set it to "1".'],
    ],
    [
      "bootstrap",
      "ALL=(root) NOPASSWD: ALL",
      "ALL=(ALL:ALL) NOPASSWD: ALL",
      ["the deploy user may sudo as any user (ALL); allow run-as root only: `ALL=(root) NOPASSWD: ALL`."],
    ],
  ];
  changed.push(
    [
      "sshd",
      "LogLevel VERBOSE",
      "LogLevel QUIET",
      ["sshd step sets loglevel quiet; it must be VERBOSE (or INFO) (sshd uses the first value it reads)."],
    ],
    [
      "fail2ban",
      "port     = $LG_SSHD_PORT",
      "port     = 2222",
      ["fail2ban's sshd jail watches port 2222, not sshd's 22; set `port = $LG_SSHD_PORT`."],
    ],
    [
      "unattended-upgrades",
      [
        "Unattended-Upgrade::Origins-Pattern {",
        '        "origin=Debian,codename=${distro_codename},label=Debian-Security";',
        '        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";',
        "};",
      ].join("\n"),
      "Unattended-Upgrade::Origins-Pattern {\n};\n# Debian-Security origins left out",
      [
        "unattended-upgrades step selects no security origin; include the Debian-Security origin in Unattended-Upgrade::Origins-Pattern.",
      ],
    ],
    [
      "fail2ban",
      "maxretry = 5",
      "maxretry = 100",
      ["fail2ban's sshd jail allows maxretry 100; ban after at most 5 failures."],
    ],
    [
      "fail2ban",
      "bantime  = 1h",
      "bantime  = 30s",
      [
        "fail2ban's sshd jail sets bantime 30s; keep it at least 10m (seed 001 §8.1.4; CIS Debian 12 §5.2 brute force).",
      ],
    ],
    [
      "fail2ban",
      "findtime = 10m",
      "findtime = 1m",
      [
        "fail2ban's sshd jail sets findtime 1m; keep it at least 10m (seed 001 §8.1.4; CIS Debian 12 §5.2 brute force).",
      ],
    ],
    [
      "sysctl",
      "net.ipv4.conf.all.accept_redirects = 0",
      "net.ipv4.conf.all.accept_redirects = 1",
      ["sysctl step sets net.ipv4.conf.all.accept_redirects = 1; it must be 0."],
    ],
    [
      "sysctl",
      "kernel.randomize_va_space = 2\n",
      "",
      [
        "sysctl step does not set kernel.randomize_va_space; set it to 2 in components/host/scripts/sysctl.sh.",
      ],
    ],
    [
      "docker",
      '"icc": false',
      '"icc": true',
      [
        'docker step\'s daemon.json sets icc to true (the last value given wins); set "icc": false (CIS 2.2).',
      ],
    ],
    [
      "docker",
      '"icc": false',
      '"icc": false,\n  "iptables": false',
      [
        'docker step: "iptables": false turns off the rules the firewall\'s DOCKER-USER chain relies on (CIS 2.4).',
      ],
    ],
    [
      "docker",
      '"no-new-privileges": true',
      '"no-new-privileges": false',
      [
        'docker step\'s daemon.json sets no-new-privileges to false (the last value given wins); set "no-new-privileges": true (CIS 2.18).',
      ],
    ],
  );
  it("sshd algorithms are judged by the values the script exports", async () => {
    const weak = sshdRendered(
      ["curve25519-sha256", "diffie-hellman-group1-sha1"],
      ["aes256-gcm@openssh.com", "aes128-cbc"],
      ["hmac-sha2-256-etm@openssh.com", "hmac-md5"],
    );
    assert.deepEqual(await runResourcePolicy(host.hostStepEffective, step("sshd", weak)), [
      "sshd step sets ciphers aes256-gcm@openssh.com,aes128-cbc; it must be AEAD/CTR ciphers only (no CBC, 3DES, arcfour, blowfish) (sshd uses the first value it reads).",
      "sshd step sets kexalgorithms curve25519-sha256,diffie-hellman-group1-sha1; it must be curve25519/ECDH/DH group ≥ 16 with SHA-2 only (no SHA-1 groups) (sshd uses the first value it reads).",
      "sshd step sets macs hmac-sha2-256-etm@openssh.com,hmac-md5; it must be encrypt-then-MAC SHA-2 only (no MD5, SHA-1, umac-64) (sshd uses the first value it reads).",
    ]);
    assert.deepEqual(
      host.weakAlgorithms("+ssh-rsa"),
      ["+ssh-rsa"],
      "a list relative to the defaults is refused",
    );
    assert.deepEqual(host.weakAlgorithms("hmac-sha2-256,umac-64-etm@openssh.com,hmac-sha1"), [
      "hmac-sha2-256",
      "umac-64-etm@openssh.com",
      "hmac-sha1",
    ]);
  });
  // Each step made ineffective another way (issue 10 red team): the control is judged as the host
  // will apply it — last value wins, printf'd sections, later steps undoing earlier ones.
  changed.push(
    [
      "firewall",
      '    ufw default "$2" "$1" >/dev/null',
      '    ufw default allow "$1" >/dev/null',
      [
        "firewall step runs `ufw default allow` for a direction other than outgoing; keep incoming and routed denied.",
      ],
    ],
    [
      "firewall",
      '  echo "-A DOCKER-USER -j DROP"\n',
      "",
      [
        "firewall step leaves Docker's DOCKER-USER chain without a final DROP; published container ports would be open to everyone (keep `-A DOCKER-USER -j DROP`).",
      ],
    ],
    [
      "firewall",
      "set_default incoming deny\n",
      "set_default incoming deny\nufw allow from 0.0.0.0/0 >/dev/null\n",
      [
        'a host-firewall command runs "ufw allow from 0.0.0.0/0", which admits every port; allow single ports (HardenedHost publicTcpPorts).',
      ],
    ],
    [
      "firewall",
      "set_default incoming deny\n",
      "set_default incoming deny\nsed -i 's/^DEFAULT_INPUT_POLICY=.*/DEFAULT_INPUT_POLICY=\"ACCEPT\"/' /etc/default/ufw\n",
      ["a host-firewall command sets UFW's default policy to ACCEPT in /etc/default/ufw; keep DROP."],
    ],
    [
      "firewall",
      "set_default incoming deny\n",
      "set_default incoming deny\niptables -I INPUT 1 -j ACCEPT\n",
      [
        'a host-firewall command accepts traffic with a raw iptables rule ("iptables -I INPUT 1 -j ACCEPT"); open ports only through the firewall step (UFW).',
      ],
    ],
    [
      "fail2ban",
      "logpath  = /var/log/auth.log",
      "logpath  = /dev/null",
      [
        "fail2ban's sshd jail reads /dev/null; it must read sshd's log (/var/log/auth.log) or use backend = systemd.",
      ],
    ],
    [
      "fail2ban",
      "backend  = polling\nJAIL",
      "backend  = polling\n\n[sshd]\nenabled = false\nJAIL",
      ["fail2ban's sshd jail is not enabled; set `enabled = true` in its [sshd] section."],
    ],
    [
      "fail2ban",
      "wait_for 30 fail2ban-client status sshd",
      "wait_for 30 fail2ban-client status sshd\nsystemctl disable --now fail2ban",
      [
        'a host-fail2ban command stops or disables a hardening service ("systemctl disable --now fail2ban"); keep it running.',
      ],
    ],
    [
      "fail2ban",
      "fail2ban-client -t >/dev/null",
      "printf '[sshd]\\nenabled = false\\n' >/etc/fail2ban/jail.d/zz-local.local\nfail2ban-client -t >/dev/null",
      ["fail2ban's sshd jail is not enabled; set `enabled = true` in its [sshd] section."],
    ],
    [
      "sshd",
      'printf \'Match User %s\\n  AllowTcpForwarding local\\n  PermitOpen %s\\n\' "$LG_DEPLOY_USER" "$LG_PERMIT_OPEN"',
      "printf 'Match User %s\\n  AllowTcpForwarding local\\n  PermitOpen any\\n' \"$LG_DEPLOY_USER\"",
      [
        "sshd step's Match block sets permitopen any; a Match block may not loosen it (sshd applies it over the global value).",
      ],
    ],
    [
      "sshd",
      "AllowStreamLocalForwarding no",
      "AllowStreamLocalForwarding yes",
      ["sshd step sets allowstreamlocalforwarding yes; it must be no (sshd uses the first value it reads)."],
    ],
    [
      "sshd",
      "ClientAliveInterval 300",
      "ClientAliveInterval 0",
      [
        "sshd step sets clientaliveinterval 0; it must be 300 (1–900 s) (sshd uses the first value it reads).",
      ],
    ],
    [
      "sshd",
      "ClientAliveCountMax 2",
      "ClientAliveCountMax 10",
      ["sshd step sets clientalivecountmax 10; it must be 2 (1–3) (sshd uses the first value it reads)."],
    ],
    [
      "unattended-upgrades",
      'Unattended-Upgrade::Remove-Unused-Kernel-Packages "true";',
      'Unattended-Upgrade::Package-Blacklist { ".*"; };\nUnattended-Upgrade::Remove-Unused-Kernel-Packages "true";',
      [
        'unattended-upgrades step blacklists ".*", which holds back openssh-server, openssl, libc6, linux-image-amd64, sudo, docker.io; security updates must install.',
      ],
    ],
    [
      "unattended-upgrades",
      "UU\n",
      "UU\nsystemctl disable --now apt-daily-upgrade.timer || true\n",
      [
        'a host-unattended-upgrades command stops or disables a hardening service ("systemctl disable --now apt-daily-upgrade"); keep it running.',
      ],
    ],
    [
      "unattended-upgrades",
      "UU\n",
      "UU\ninstall_file /etc/apt/apt.conf.d/99launchgate-pause 0644 root:root <<'OFF' || true\nAPT::Periodic::Unattended-Upgrade \"0\";\nOFF\n",
      ['unattended-upgrades step does not turn APT::Periodic::Unattended-Upgrade on; set it to "1".'],
    ],
    [
      "accounts",
      "set_login_def PASS_MAX_DAYS 365\n",
      "set_login_def PASS_MAX_DAYS 365\necho 'backup ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/91-backup\n",
      [
        "a host-accounts command writes sudoers; only the bootstrap step grants sudo (to the deploy user, run-as root).",
      ],
    ],
    [
      "docker",
      "ensure_pkgs docker.io\n",
      "ensure_pkgs docker.io\nsysctl -w net.ipv4.conf.all.accept_redirects=1 >/dev/null\n",
      [
        "a host-docker command sets net.ipv4.conf.all.accept_redirects = 1; the sysctl step sets it to 0 — only that step sets kernel parameters.",
      ],
    ],
    [
      "docker",
      '  "icc": false\n}',
      '  "icc": false,\n  "seccomp-profile": "unconfined"\n}',
      [
        'docker step\'s daemon.json sets "seccomp-profile": "unconfined": every container runs without seccomp (CIS 5.22); remove it.',
      ],
    ],
    [
      "docker",
      '  "icc": false\n}',
      '  "icc": false,\n  "no-new-privileges": false\n}',
      [
        'docker step\'s daemon.json sets no-new-privileges to false (the last value given wins); set "no-new-privileges": true (CIS 2.18).',
      ],
    ],
    [
      "file-integrity",
      "set -euo pipefail\n",
      "set -euo pipefail\nexit 0\n",
      [
        'the host-file-integrity step exits at "exit 0" before the rest of its script runs; remove the early exit.',
      ],
    ],
    [
      "auditd",
      "set -euo pipefail\n",
      "set -euo pipefail\ntrap 'systemctl disable --now auditd || true' EXIT\n",
      [
        'a host-auditd command stops or disables a hardening service ("systemctl disable --now auditd"); keep it running.',
      ],
    ],
  );
  // Round 2 of the red team: more ways to make a step ineffective.
  changed.push(
    [
      "sshd",
      "Port $LG_SSHD_PORT\n",
      "Include /etc/ssh/extra.d/*.conf\nPort $LG_SSHD_PORT\n",
      [
        "sshd step's config includes /etc/ssh/extra.d/*.conf, which sshd reads before the settings that follow (first value wins); keep every setting in the step's own file.",
      ],
    ],
    [
      "firewall",
      "set_default incoming deny\n",
      "set_default incoming deny\nufw route allow in on eth0 out on docker0 >/dev/null\n",
      [
        'a host-firewall command runs "ufw route allow in on eth0 out on docker0", which admits every port; allow single ports (HardenedHost publicTcpPorts).',
      ],
    ],
    [
      "firewall",
      "set_default incoming deny\n",
      "set_default incoming deny\nnft insert rule inet filter input accept\n",
      [
        'a host-firewall command accepts traffic with a raw nftables rule ("nft insert rule inet filter input accept"); open ports only through the firewall step (UFW).',
      ],
    ],
    [
      "auditd",
      "-w /etc/passwd -p wa -k identity\n",
      "-e 0\n-w /etc/passwd -p wa -k identity\n",
      [
        "auditd step's rules disable auditing (`-e 0`); keep it enabled (`-e 1`, or `-e 2` to lock the rules).",
      ],
    ],
    [
      "accounts",
      "set_login_def PASS_MAX_DAYS 365",
      "set_login_def PASS_MAX_DAYS 99999",
      ["accounts step sets PASS_MAX_DAYS 99999; it must be at most 365 (CIS Debian 12 §5.4.1)."],
    ],
    [
      "accounts",
      "set_login_def PASS_WARN_AGE 14",
      "set_login_def PASS_WARN_AGE 0",
      ["accounts step sets PASS_WARN_AGE 0; it must be at least 7 (CIS Debian 12 §5.4.1)."],
    ],
  );
  for (const [s, from, to, messages] of changed) {
    it(`${s}: "${from.trim()}" → "${to}"`, async () => {
      const text = s === "sshd" ? sshdRendered() : script(`${s}.sh`);
      assert.ok(text.includes(from), `fixture: ${from}`);
      assert.deepEqual(
        await runResourcePolicy(
          host.hostStepEffective,
          step(s, text.replace(from, to), s === "bootstrap" ? LOCAL : REMOTE),
        ),
        messages,
      );
    });
  }
  it("a host without monitors, or monitors without timers, is refused", async () => {
    const monitoring = (create: string): ResourceInput => ({
      type: REMOTE,
      name: "monitoring-install",
      props: {
        create,
        stdin: "https://hooks.example.com/T0/B0/x\n",
        triggers: ["launchgate.role=monitoring"],
      },
    });
    const sshd = step("sshd", "");
    assert.deepEqual(
      await runStackPolicy(host.monitoringInstalled, [
        sshd,
        monitoring("export LG_FILES='0755 /l/m.sh LG_FILE_0'\nexport LG_TIMERS='m.timer'\n"),
      ]),
      [],
    );
    assert.deepEqual(await runStackPolicy(host.monitoringInstalled, [sshd]), [
      "the host runs no monitors (no command with role monitoring); keep the Monitoring component.",
    ]);
    assert.deepEqual(
      await runStackPolicy(host.monitoringInstalled, [
        sshd,
        monitoring("export LG_FILES='0755 /l/m.sh LG_FILE_0'\nexport LG_TIMERS=''\n"),
      ]),
      ["the monitoring install enables no systemd timer; monitors must run on a schedule."],
    );
    assert.deepEqual(await runStackPolicy(host.monitoringInstalled, []), []);
  });
  it("monitors as installed: an alert target by the gate's definition, workloads probed, alerts delivered, a repeating timer", async () => {
    const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    const install = (
      o: { stdin?: string; probes?: string; hook?: string; timer?: string; url?: string } = {},
    ): ResourceInput => {
      const probe = `export LG_PROBE_CONTAINERS=${q(o.probes ?? "postgres=postgres api=api-1a2b")}\nexport LG_PUBLIC_URL=${q(o.url ?? "https://example.com/")}\nexport LG_WEBHOOK_FILE=${q(o.hook ?? "/etc/launchgate/alert-webhook")}\n`;
      const timer = o.timer ?? "[Timer]\nOnBootSec=2min\nOnUnitActiveSec=60s\n";
      return {
        type: REMOTE,
        name: "monitoring-install",
        props: {
          create: [
            `export LG_FILES=${q("0755 /usr/local/lib/launchgate/monitor-probe.sh LG_FILE_0\n0644 /etc/systemd/system/launchgate-monitor.timer LG_FILE_1")}`,
            "export LG_TIMERS='launchgate-monitor.timer'",
            "export LG_STDIN_FILE='/etc/launchgate/alert-webhook'",
            `export LG_FILE_0=${q(probe)}`,
            `export LG_FILE_1=${q(timer)}`,
          ].join("\n"),
          ...(o.stdin === undefined
            ? { stdin: "https://hooks.example.com/T0/B0/x\n" }
            : o.stdin === "-"
              ? {}
              : { stdin: o.stdin }),
          triggers: ["launchgate.role=monitoring"],
        },
      };
    };
    const sshd = step("sshd", "");
    const run = (o: Parameters<typeof install>[0]) =>
      runStackPolicy(host.monitoringInstalled, [sshd, install(o)]);
    assert.deepEqual(await run({}), []);
    const noTarget =
      "the monitors are installed without an alert target (stdin is not an https URL, the gate's definition); pass launchgate:alertWebhookUrl to Monitoring, as Release gets it.";
    assert.deepEqual(await run({ stdin: "\n" }), [noTarget]);
    assert.deepEqual(await run({ stdin: "http://hooks.example.com/x\n" }), [noTarget]);
    assert.deepEqual(await run({ stdin: "-" }), [noTarget]);
    assert.deepEqual(await run({ probes: "" }), [
      "/usr/local/lib/launchgate/monitor-probe.sh probes no workload (LG_PROBE_CONTAINERS is empty); probe every data store and app.",
    ]);
    assert.deepEqual(await run({ url: "" }), [
      '/usr/local/lib/launchgate/monitor-probe.sh probes no public URL (LG_PUBLIC_URL=""); the end-to-end probe must reach the site through the proxy.',
    ]);
    assert.deepEqual(await run({ hook: "/dev/null" }), [
      "/usr/local/lib/launchgate/monitor-probe.sh alerts through /dev/null, not the file the install writes the alert target to (/etc/launchgate/alert-webhook); alerts would reach nobody.",
    ]);
    assert.deepEqual(await run({ timer: "[Timer]\nOnBootSec=2min\n" }), [
      "/etc/systemd/system/launchgate-monitor.timer does not repeat (no OnUnitActiveSec); probe at least every 300 s (launchgate:monitoring.probeIntervalSeconds).",
    ]);
    assert.deepEqual(await run({ timer: "[Timer]\nOnUnitActiveSec=86400s\n" }), [
      "/etc/systemd/system/launchgate-monitor.timer repeats every 86400 s; probe at least every 300 s (launchgate:monitoring.probeIntervalSeconds).",
    ]);
  });
  it("monitor thresholds are judged as installed (monitor-evaluate.sh as rendered)", async () => {
    const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    const evaluate = (over: Record<string, string> = {}) => {
      const env: Record<string, string> = {
        LG_CPU_WARN: "70",
        LG_CPU_CRIT: "90",
        LG_MEM_WARN: "80",
        LG_MEM_CRIT: "85",
        LG_DISK_WARN: "80",
        LG_DISK_CRIT: "90",
        LG_ERR_WARN: "1",
        LG_ERR_CRIT: "5",
        LG_ERR_MIN_REQUESTS: "20",
        LG_BACKUP_MAX_AGE_HOURS: "26",
        ...over,
      };
      const text = [
        "#!/usr/bin/env bash",
        ...Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}`),
        fs.readFileSync(path.join(__dirname, "../../components/ops/scripts/monitor-evaluate.sh"), "utf8"),
      ].join("\n");
      return {
        type: REMOTE,
        name: "monitoring-install",
        props: {
          create: [
            `export LG_FILES=${q("0755 /usr/local/lib/launchgate/monitor-evaluate.sh LG_FILE_0")}`,
            "export LG_TIMERS='launchgate-monitor.timer'",
            `export LG_FILE_0=${q(text)}`,
          ].join("\n"),
          stdin: "https://hooks.example.com/T0/B0/x\n",
          triggers: ["launchgate.role=monitoring"],
        },
      };
    };
    const sshd = step("sshd", "");
    assert.deepEqual(await runStackPolicy(host.monitoringInstalled, [sshd, evaluate()]), []);
    assert.deepEqual(
      await runStackPolicy(host.monitoringInstalled, [sshd, evaluate({ LG_BACKUP_MAX_AGE_HOURS: "720" })]),
      [
        "/usr/local/lib/launchgate/monitor-evaluate.sh alerts on backups older than 720 h; keep it 1–48 (launchgate:monitoring.backupMaxAgeHours).",
      ],
    );
    assert.deepEqual(
      await runStackPolicy(host.monitoringInstalled, [sshd, evaluate({ LG_DISK_CRIT: "101" })]),
      [
        "/usr/local/lib/launchgate/monitor-evaluate.sh installs LG_DISK_WARN=80 and LG_DISK_CRIT=101; a monitor alerts only with 0 ≤ warn < critical ≤ 100 (launchgate:monitoring).",
      ],
    );
  });
  it("every required step must be present", async () => {
    const steps = REQUIRED_HOST_STEPS.map((s) => step(s, ""));
    assert.deepEqual(await runStackPolicy(host.hostHardeningPresent, steps), []);
    assert.deepEqual(
      await runStackPolicy(
        host.hostHardeningPresent,
        steps.filter((s) => s.name !== "host-fail2ban"),
      ),
      ["the host has no fail2ban step (role host-fail2ban); keep it in HardenedHost."],
    );
    assert.deepEqual(await runStackPolicy(host.hostHardeningPresent, []), []);
  });
  it("every required step must be present on each host (a cluster: by the steps' connection)", async () => {
    const on = (address: string) =>
      REQUIRED_HOST_STEPS.map((s) => {
        const r = step(s, "");
        return {
          ...r,
          name: `${address}-${s}`,
          props: { ...r.props, connection: { host: address, port: 22, user: "deployer" } },
        };
      });
    const cluster = [...on("10.0.0.1"), ...on("10.0.0.2")];
    assert.deepEqual(await runStackPolicy(host.hostHardeningPresent, cluster), []);
    // node 2 lacks auditd; node 1 has it: still refused, naming node 2.
    assert.deepEqual(
      await runStackPolicy(
        host.hostHardeningPresent,
        cluster.filter((s) => s.name !== "10.0.0.2-auditd"),
      ),
      ["the host 10.0.0.2:22 has no auditd step (role host-auditd); keep it in HardenedHost."],
    );
  });
  it("another step writing weak sshd settings is refused (sshd keeps the first value)", async () => {
    const other = {
      type: REMOTE,
      name: "host-baseline",
      props: {
        stdin: "printf 'PermitRootLogin yes\\n' > /etc/ssh/sshd_config.d/01-x.conf\nPermitRootLogin yes",
        triggers: ["launchgate.role=host-baseline"],
      },
    };
    assert.deepEqual(await runResourcePolicy(host.hostStepEffective, other), [
      'a host-baseline command sets sshd "PermitRootLogin yes"; PermitRootLogin must be no — only the sshd step configures sshd.',
    ]);
  });
  it("firewall-ports", async () => {
    const fw = (ports: string) => ({
      type: REMOTE,
      name: "host-firewall",
      props: { stdin: `export LG_PUBLIC_TCP_PORTS='${ports}'`, triggers: ["launchgate.role=host-firewall"] },
    });
    assert.deepEqual(await runResourcePolicy(host.firewallPorts, fw("22 80 443")), []);
    assert.deepEqual(await runResourcePolicy(host.firewallPorts, fw("22 80 443 5432")), [
      "firewall opens 5432; open only 22/80/443 (HardenedHost publicTcpPorts).",
    ]);
  });
  describe("ssh-source-restricted", () => {
    const fw = (from: string, extra = "") => ({
      type: REMOTE,
      name: "host-firewall",
      props: {
        stdin: `export LG_SSHD_PORT='22'\nexport LG_SSH_ALLOW_FROM='${from}'\n${extra}`,
        triggers: ["launchgate.role=host-firewall"],
      },
    });
    const other = (script: string) => ({
      type: REMOTE,
      name: "host-baseline",
      props: { stdin: script, triggers: ["launchgate.role=host-baseline"] },
    });
    const wide = (source: string, bits: number, min = 16, world = false) =>
      `SSH is admitted from ${source} (2^${bits} addresses${world ? ": the whole internet" : ""}); admit only ranges of /${min} or narrower (launchgate:host.sshAllowFrom), or record the exception with its reason in the pack config.`;
    it("the admins' ranges pass (a /16, a /24, one address, an IPv6 /64)", async () => {
      for (const r of [
        fw("198.51.100.0/24 192.0.2.7/32 203.0.113.9 172.16.0.0/16 2001:db8:1:2::/64"),
        other("ufw allow from 198.51.100.0/24 to any port 22 proto tcp"),
        other("ufw allow 443/tcp"),
      ])
        assert.deepEqual(await runResourcePolicy(host.sshSourceRestricted, r), [], JSON.stringify(r.props));
    });
    it("the whole internet, a range as good as it, and a non-range are refused", async () => {
      assert.deepEqual(await runResourcePolicy(host.sshSourceRestricted, fw("0.0.0.0/0")), [
        wide("0.0.0.0/0", 32, 16, true),
      ]);
      assert.deepEqual(await runResourcePolicy(host.sshSourceRestricted, fw("198.51.100.0/24 10.0.0.0/8")), [
        wide("10.0.0.0/8", 24),
      ]);
      assert.deepEqual(await runResourcePolicy(host.sshSourceRestricted, fw("::/0")), [
        "SSH is admitted from ::/0 (2^128 addresses: the whole internet); admit only ranges of /48 or narrower (launchgate:host.sshAllowFrom), or record the exception with its reason in the pack config.",
      ]);
      assert.deepEqual(await runResourcePolicy(host.sshSourceRestricted, fw("office")), [
        'SSH is admitted from "office", which is not an address range; give CIDRs such as 203.0.113.0/24.',
      ]);
    });
    it("any host command opening the SSH port to anywhere is refused, whatever the firewall step says", async () => {
      for (const [script, source] of [
        ["ufw allow 22/tcp", "any"],
        ["ufw allow in proto tcp to any port 22", "any"],
        ["ufw allow from any to any port 22", "any"],
        ["ufw allow from 0.0.0.0/0 to any port 22 proto tcp", "0.0.0.0/0"],
      ] as const)
        assert.deepEqual(
          await runResourcePolicy(host.sshSourceRestricted, other(script)),
          [wide(source, 32, 16, true)],
          script,
        );
      // A moved sshd port is the SSH port.
      assert.deepEqual(
        await runResourcePolicy(
          host.sshSourceRestricted,
          fw("198.51.100.0/24", "export LG_SSHD_PORT='2200'\nufw allow 2200"),
        ),
        [wide("any", 32, 16, true)],
      );
    });
    it("the threshold comes from the pack config; an exception (with its reason) accepts a stack's world-open SSH", async () => {
      assert.deepEqual(
        await runResourcePolicy(host.sshSourceRestricted, fw("10.0.0.0/8"), { minPrefixLength: 8 }),
        [],
      );
      assert.deepEqual(
        await runResourcePolicy(host.sshSourceRestricted, fw("0.0.0.0/0"), {
          exceptions: { "host-firewall": "loopback-only VPS" },
        }),
        [],
      );
    });
  });
});
