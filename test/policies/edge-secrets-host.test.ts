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
    for (const s of ["firewall", "fail2ban", "unattended-upgrades", "sysctl", "docker"])
      assert.deepEqual(await runResourcePolicy(host.hostStepEffective, step(s, script(`${s}.sh`))), [], s);
    assert.deepEqual(await runResourcePolicy(host.hostStepEffective, step("sshd", sshdRendered())), []);
    assert.deepEqual(
      await runResourcePolicy(host.hostStepEffective, step("bootstrap", script("bootstrap.sh"), LOCAL)),
      [],
    );
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
      ['docker step\'s daemon.json does not set icc; set "icc": false (CIS 2.2).'],
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
        'docker step\'s daemon.json does not set no-new-privileges; set "no-new-privileges": true (CIS 2.18).',
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
      props: { create, triggers: ["launchgate.role=monitoring"] },
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
