import assert from "node:assert/strict";
import { before, test } from "node:test";
import {
  installMocks,
  isSecret,
  Recorder,
  settle,
  unwrap,
  isSecretInput,
  recordOptions,
  reveal,
} from "../support/mocks";
import {
  evictionPolicy,
  Redis,
  REDIS_HEALTHCHECK,
  redisContainerMemoryMb,
  redisServerArgs,
} from "../../components/data/Redis";
import * as fs from "node:fs";
import * as path from "node:path";
import { REDIS_MAX_MEMORY_MB } from "../../stacks/config";

const C = "docker:index/container:Container";
const PASSWORD = "p4ssw0rdp4ssw0rdp4ssw0rdp4ssw0rd";
let rec: Recorder;
let opts: ReturnType<typeof recordOptions>;
let queue: Redis;

before(async () => {
  rec = await installMocks("local", {
    state: (r) => (r.type === "random:index/randomPassword:RandomPassword" ? { result: PASSWORD } : {}),
  });
  opts = recordOptions();
  const net = "net-internal";
  queue = new Redis("redis-queue", {
    image: "redis:7.2",
    instance: { name: "queue", role: "queue", maxMemoryMb: 256 },
    internalNetwork: net,
    pids: { engine: { local: true }, limit: 512 },
  });
  new Redis("redis-session", {
    image: "redis:7.2",
    instance: { name: "session", role: "session", maxMemoryMb: 64 },
    internalNetwork: net,
    pids: { engine: { local: true }, limit: 512 },
  });
  new Redis("redis-cache", {
    image: "redis:7.2",
    instance: { name: "cache", role: "cache", maxMemoryMb: 512 },
    internalNetwork: net,
    pids: { engine: { local: true }, limit: 512 },
    dataDir: "/var/lib/redis",
  });
  await settle();
});

function script(name: string): string {
  return rec.one(C, name).inputs.command[0] as string;
}

test("eviction policy by role: queue/session keep every key, cache evicts", () => {
  assert.equal(evictionPolicy("queue"), "noeviction");
  assert.equal(evictionPolicy("session"), "noeviction");
  assert.equal(evictionPolicy("cache"), "allkeys-lru");
  assert.match(script("redis-queue"), /'--maxmemory-policy' 'noeviction'/);
  assert.match(script("redis-session"), /'--maxmemory-policy' 'noeviction'/);
  assert.match(script("redis-cache"), /'--maxmemory-policy' 'allkeys-lru'/);
});

test("persistence: AOF on, RDB save points, maxmemory from config, data dir on the volume", () => {
  const s = script("redis-queue");
  assert.match(s, /'--appendonly' 'yes'/);
  assert.match(s, /'--save' '900' '1' '--save' '300' '10'/);
  assert.match(s, /'--maxmemory' '256mb'/);
  assert.match(s, /'--dir' '\/data'/);
  assert.match(script("redis-cache"), /'--dir' '\/var\/lib\/redis'/);
  assert.deepEqual(rec.one(C, "redis-cache").inputs.volumes, [
    { volumeName: "redis-cache-data", containerPath: "/var/lib/redis" },
  ]);
  assert.deepEqual(redisServerArgs({ name: "x", role: "cache", maxMemoryMb: 16 }, "/d").slice(0, 2), [
    "--dir",
    "/d",
  ]);
});

test("password: only in a secret env var, never in the command line or a plain input", () => {
  const c = rec.one(C, "redis-queue").inputs;
  assert.equal(isSecretInput(c.envs), true);
  assert.deepEqual(reveal(c.envs), [`REDIS_PASSWORD=${PASSWORD}`]);
  assert.ok(!JSON.stringify(c.command).includes(PASSWORD));
  assert.ok(!JSON.stringify(c.entrypoints).includes(PASSWORD));
  assert.ok(!JSON.stringify(c.healthcheck).includes(PASSWORD));
  assert.match(script("redis-queue"), /requirepass .*\$REDIS_PASSWORD.*> \/tmp\/redis-auth\.conf/);
  assert.match(script("redis-queue"), /exec redis-server \/tmp\/redis-auth\.conf /);
});

test("authenticated redis-cli ping healthcheck, waited for", () => {
  const c = rec.one(C, "redis-queue").inputs;
  assert.deepEqual(c.healthcheck.tests, REDIS_HEALTHCHECK);
  assert.match(REDIS_HEALTHCHECK[1]!, /REDISCLI_AUTH="\$REDIS_PASSWORD" redis-cli .* ping/);
  assert.equal(c.wait, true);
});

test("internal network only, no host port, hardened runtime", () => {
  for (const name of ["redis-queue", "redis-session", "redis-cache"]) {
    const c = rec.one(C, name).inputs;
    assert.deepEqual(c.networksAdvanced, [{ name: "net-internal", aliases: [name] }]);
    assert.equal(c.ports, undefined);
    assert.equal(c.user, "redis");
    assert.deepEqual(c.capabilities, { drops: ["ALL"] });
    assert.deepEqual(c.securityOpts, ["no-new-privileges:true"]);
    assert.equal(c.readOnly, true);
    assert.equal(c.restart, "unless-stopped");
    assert.equal(c.privileged, false);
  }
  // Container memory above maxmemory (fork headroom for AOF rewrite).
  assert.ok(rec.one(C, "redis-queue").inputs.memory > 256);
});

test("volumes are protected and retained on delete", () => {
  for (const name of ["redis-queue-data", "redis-session-data", "redis-cache-data"]) {
    const o = opts.of("docker:index/volume:Volume", name);
    assert.equal(o.protect, true, `${name} protect`);
    assert.equal(o.retainOnDelete, true, `${name} retainOnDelete`);
  }
});

test("url is a secret redis:// URL on the container alias", async () => {
  assert.equal(await isSecret(queue.url), true);
  assert.equal(await unwrap(queue.url), `redis://:${PASSWORD}@redis-queue:6379`);
  assert.equal(await unwrap(queue.containerName), "redis-queue");
  assert.equal(await unwrap(queue.volumeName), "redis-queue-data");
});

test("container memory: ceil(2.25 × maxmemory) + 64 MiB for every maxMemoryMb the config accepts, as documented", () => {
  // Fork headroom (issue 12): an AOF rewrite under writes holds up to 2× the dataset, plus
  // fragmentation and buffers. Whole MiB (Docker's limit is bytes: an int64), for the smallest
  // and largest maxMemoryMb the schema takes and odd sizes between.
  for (const mb of [16, 17, 33, 255, 256, 257, 1000, 4097, 65_537, REDIS_MAX_MEMORY_MB]) {
    const c = redisContainerMemoryMb(mb);
    assert.ok(Number.isInteger(c), `${mb}: ${c}`);
    assert.equal(c, Math.ceil(2.25 * mb) + 64, `${mb}`);
    assert.ok(c >= 2 * mb + 64, `${mb}: ${c} leaves no fork headroom`);
    assert.ok(c * 1024 * 1024 <= Number.MAX_SAFE_INTEGER, `${mb}: ${c} MiB`);
  }
  // The measured case: 256 MiB was OOM-killed at 416 MiB and ran clean at 640.
  assert.equal(redisContainerMemoryMb(256), 640);
  // The formula a user reads (Pulumi.yaml, README, the component's docs) is the one applied.
  const root = path.join(__dirname, "..", "..");
  const formula = "container memory ceil(2.25 × maxMemoryMb) + 64 MiB";
  for (const doc of ["Pulumi.yaml", "README.md"])
    assert.ok(fs.readFileSync(path.join(root, doc), "utf8").includes(formula), `${doc} states "${formula}"`);
  const source = fs.readFileSync(path.join(root, "components", "data", "Redis.ts"), "utf8");
  assert.doesNotMatch(source, /1\.5× this plus 32 MiB/, "a stale formula in Redis.ts");
});
