/**
 * Plays the Swarm resources a recording declares (docker.Secret, docker.ServiceConfig,
 * docker.Service) on a manager's engine through the Engine API, as @pulumi/docker 5.2 would:
 * strict like the harness's container mapping (test/support/harness.ts: a field it does not map
 * throws), recorded resource ids (`<name>-id` under the mocks) rewritten to the engine's ids, and a
 * service counted as created once it converged (`convergeConfig`: every desired task running —
 * Swarm reports a task with a healthcheck as running once it is healthy — or the update finished).
 *
 * Used by test/swarm/cluster.test.ts with the harness's `handlers`, so the engine's dependency
 * order is kept (a service after its secrets, configs and networks).
 */
import { api, apiJson, demux, durationNs, fields, imageRepo } from "./harness";
import type { RecordedResource } from "./mocks";

type Json = any;

export const SECRET = "docker:index/secret:Secret";
export const SERVICE_CONFIG = "docker:index/serviceConfig:ServiceConfig";
export const SERVICE = "docker:index/service:Service";

/** What an update of a service ended in (`UpdateStatus.State`, or `created`). */
export type Converged = "created" | "completed" | "rollback_completed" | "paused" | "rollback_paused";

export interface SwarmPlayerOptions {
  /** Engine API socket of a manager. */
  readonly socketPath: string;
  /** Registry ref (exact) or repository → a local image tag present on every node. */
  readonly imageMap: Readonly<Record<string, string>>;
  /** Recorded network resource name → the engine's network id (from the harness). */
  readonly networkId: (recordedName: string) => string;
  readonly log?: (line: string) => void;
}

const kv = (id: string, prefix: string, list: Json[] | undefined, k: string, v: string) =>
  Object.fromEntries(
    (list ?? []).map((x, i) => {
      const g = fields(id, `${prefix}[${i}].`, x);
      const out = [String(g.take(k)), String(g.take(v))];
      g.done();
      return out;
    }),
  );

const ns = (d: string | undefined) => (d === undefined ? undefined : durationNs(d));

/** Swarm objects created by one player, for replay steps and cleanup. */
export class SwarmPlayer {
  /** Recorded `<name>-id` → engine id (secrets, configs). */
  private readonly ids = new Map<string, string>();
  /** Recorded service name → engine service id. */
  private readonly services = new Map<string, string>();
  private readonly log: (line: string) => void;

  constructor(private readonly opts: SwarmPlayerOptions) {
    this.log = opts.log ?? ((l) => console.log(`  [swarm] ${l}`));
  }

  private api(method: string, p: string, body?: Json, ok?: number[]) {
    return apiJson(method, p, body, ok, 120_000, this.opts.socketPath);
  }

  /** Handlers for the harness (`handlers` option): create one recorded object. */
  handlers(): Record<string, (r: RecordedResource) => Promise<void>> {
    return {
      [SECRET]: (r) => this.createData(r, "secrets"),
      [SERVICE_CONFIG]: (r) => this.createData(r, "configs"),
      [SERVICE]: async (r) => {
        const state = await this.createService(r);
        if (state !== "created") throw new Error(`service ${r.name}: ${state}`);
      },
    };
  }

  /** Creates a secret or config (immutable: a new value is a new name). */
  async createData(r: RecordedResource, kind: "secrets" | "configs"): Promise<void> {
    const id = `${r.type} ${r.name}`;
    const f = fields(id, "", r.inputs);
    const spec = {
      Name: f.take<string>("name"),
      Data: f.take<string>("data"),
      Labels: kv(id, "labels", f.take("labels"), "label", "value"),
    };
    f.done();
    const res = await this.api("POST", `/${kind}/create`, spec);
    this.ids.set(`${r.name}-id`, res.ID);
    this.log(`${kind.slice(0, -1)} ${spec.Name} created`);
  }

  /**
   * Removes a secret or config by its name (content-hashed, so the old one of a replacement; after
   * the services moved off it). Swarm refuses while a service still uses it.
   */
  async removeData(r: RecordedResource): Promise<void> {
    const kind = r.type === SECRET ? "secrets" : "configs";
    await this.api("DELETE", `/${kind}/${String(r.inputs.name)}`, undefined, [200, 204]);
    this.log(`${kind.slice(0, -1)} ${r.inputs.name} removed`);
  }

  private ref(recordedId: string, what: string): string {
    const id = this.ids.get(recordedId);
    if (!id) throw new Error(`${what}: ${recordedId} was not created before the service`);
    return id;
  }

  private image(ref: string): string {
    const local = this.opts.imageMap[ref] ?? this.opts.imageMap[imageRepo(ref)];
    if (!local) throw new Error(`no local image for ${ref}`);
    return local;
  }

  /** The Engine API ServiceSpec of a recorded docker.Service. @throws on an unmapped field. */
  serviceSpec(r: RecordedResource): { spec: Json; converge?: { delayMs: number; timeoutMs: number } } {
    const id = `${r.type} ${r.name}`;
    const f = fields(id, "", r.inputs);
    const ts = fields(id, "taskSpec.", f.take("taskSpec"));
    const cs = fields(id, "taskSpec.containerSpec.", ts.take("containerSpec"));
    const health = cs.take<Json>("healthcheck");
    let HealthCheck: Json;
    if (health) {
      const h = fields(id, "taskSpec.containerSpec.healthcheck.", health);
      HealthCheck = {
        Test: h.take("tests"),
        Interval: ns(h.take("interval")),
        Timeout: ns(h.take("timeout")),
        Retries: h.take("retries"),
        StartPeriod: ns(h.take("startPeriod")),
      };
      h.done();
    }
    const mounts = (cs.take<Json[]>("mounts") ?? []).map((m, i) => {
      const g = fields(id, `taskSpec.containerSpec.mounts[${i}].`, m);
      const out: Json = { Type: g.take("type"), Target: g.take("target"), Source: g.take("source") };
      const t = g.take<Json>("tmpfsOptions");
      if (t) {
        const o = fields(id, `taskSpec.containerSpec.mounts[${i}].tmpfsOptions.`, t);
        out.TmpfsOptions = { SizeBytes: o.take("sizeBytes"), Mode: o.take("mode") };
        o.done();
      }
      out.ReadOnly = g.take("readOnly");
      g.done();
      return out;
    });
    const files = (list: Json[] | undefined, what: "secrets" | "configs") =>
      (list ?? []).map((s, i) => {
        const g = fields(id, `taskSpec.containerSpec.${what}[${i}].`, s);
        const idKey = what === "secrets" ? "secretId" : "configId";
        const nameKey = what === "secrets" ? "secretName" : "configName";
        const out = {
          File: {
            Name: g.take("fileName"),
            UID: g.take("fileUid") ?? "0",
            GID: g.take("fileGid") ?? "0",
            Mode: g.take("fileMode") ?? 0o444,
          },
          [what === "secrets" ? "SecretID" : "ConfigID"]: this.ref(String(g.take(idKey)), id),
          [what === "secrets" ? "SecretName" : "ConfigName"]: g.take(nameKey),
        };
        g.done();
        return out;
      });
    const env = cs.take<Record<string, string>>("env") ?? {};
    const ContainerSpec: Json = {
      Image: this.image(String(cs.take("image"))),
      Labels: kv(id, "taskSpec.containerSpec.labels", cs.take("labels"), "label", "value"),
      Command: cs.take("commands"),
      Args: cs.take("args"),
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      User: cs.take("user"),
      CapabilityAdd: cs.take("capAdds"),
      CapabilityDrop: cs.take("capDrops"),
      ReadOnly: cs.take("readOnly"),
      Mounts: mounts,
      HealthCheck,
      StopSignal: cs.take("stopSignal"),
      StopGracePeriod: ns(cs.take("stopGracePeriod")),
      Secrets: files(cs.take("secrets"), "secrets"),
      Configs: files(cs.take("configs"), "configs"),
    };
    cs.done();
    const limits = fields(id, "taskSpec.resources.", ts.take("resources") ?? {});
    const lim = fields(id, "taskSpec.resources.limits.", limits.take("limits") ?? {});
    const Resources = { Limits: { MemoryBytes: lim.take("memoryBytes"), NanoCPUs: lim.take("nanoCpus") } };
    lim.done();
    limits.done();
    const rp = fields(id, "taskSpec.restartPolicy.", ts.take("restartPolicy") ?? {});
    const RestartPolicy = {
      Condition: rp.take("condition"),
      Delay: ns(rp.take("delay")),
      Window: ns(rp.take("window")),
      MaxAttempts: rp.take("maxAttempts"),
    };
    rp.done();
    const ld = ts.take<Json>("logDriver");
    let LogDriver: Json;
    if (ld) {
      const g = fields(id, "taskSpec.logDriver.", ld);
      LogDriver = { Name: g.take("name"), Options: g.take("options") };
      g.done();
    }
    const Networks = (ts.take<Json[]>("networksAdvanceds") ?? []).map((n, i) => {
      const g = fields(id, `taskSpec.networksAdvanceds[${i}].`, n);
      const recorded = String(g.take("id"));
      const out = { Target: this.opts.networkId(recorded.replace(/-id$/, "")), Aliases: g.take("aliases") };
      g.done();
      return out;
    });
    const pl = fields(id, "taskSpec.placement.", ts.take("placement") ?? {});
    const Placement = { Constraints: pl.take("constraints"), MaxReplicas: pl.take("maxReplicas") };
    pl.done();
    ts.done();
    const mode = fields(id, "mode.", f.take("mode") ?? {});
    const global = mode.take<boolean>("global");
    const replicated = mode.take<Json>("replicated");
    mode.done();
    const Mode = global ? { Global: {} } : { Replicated: { Replicas: replicated?.replicas ?? 1 } };
    const rolling = (key: "updateConfig" | "rollbackConfig") => {
      const v = f.take<Json>(key);
      if (!v) return undefined;
      const g = fields(id, `${key}.`, v);
      const out = {
        Parallelism: g.take("parallelism"),
        Delay: ns(g.take("delay")),
        FailureAction: g.take("failureAction"),
        Monitor: ns(g.take("monitor")),
        MaxFailureRatio: Number(g.take("maxFailureRatio") ?? 0),
        Order: g.take("order"),
      };
      g.done();
      return out;
    };
    const ep = fields(id, "endpointSpec.", f.take("endpointSpec") ?? {});
    const EndpointSpec = {
      Mode: ep.take("mode"),
      Ports: (ep.take<Json[]>("ports") ?? []).map((p, i) => {
        const g = fields(id, `endpointSpec.ports[${i}].`, p);
        const out = {
          Protocol: g.take("protocol"),
          TargetPort: g.take("targetPort"),
          PublishedPort: g.take("publishedPort"),
          PublishMode: g.take("publishMode"),
        };
        g.done();
        return out;
      }),
    };
    ep.done();
    const cc = f.take<Json>("convergeConfig");
    let converge: { delayMs: number; timeoutMs: number } | undefined;
    if (cc) {
      const g = fields(id, "convergeConfig.", cc);
      converge = {
        delayMs: ns(g.take("delay") ?? "7s")! / 1e6,
        timeoutMs: ns(g.take("timeout") ?? "3m")! / 1e6,
      };
      g.done();
    }
    const spec = {
      Name: f.take("name"),
      Labels: kv(id, "labels", f.take("labels"), "label", "value"),
      TaskTemplate: { ContainerSpec, Resources, RestartPolicy, LogDriver, Networks, Placement },
      Mode,
      UpdateConfig: rolling("updateConfig"),
      RollbackConfig: rolling("rollbackConfig"),
      EndpointSpec,
    };
    f.done();
    return { spec, converge };
  }

  /** Creates a service and waits, as the provider does with `convergeConfig`, until it converged. */
  async createService(r: RecordedResource): Promise<Converged> {
    const { spec, converge } = this.serviceSpec(r);
    const t0 = Date.now();
    const res = await this.api("POST", "/services/create", spec);
    this.services.set(r.name, res.ID);
    const state = converge ? await this.waitConverged(r.name, converge.timeoutMs) : "created";
    this.log(`service ${spec.Name} ${state} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return state;
  }

  /**
   * Updates a service in place to `r` (the provider's update of a changed docker.Service) and
   * waits for Swarm's rolling update to end: `completed`, or `rollback_completed` when the
   * health-gated update failed and Swarm rolled back by itself.
   */
  async updateService(r: RecordedResource): Promise<Converged> {
    const { spec, converge } = this.serviceSpec(r);
    const engineId = this.serviceId(r.name);
    const cur = await this.api("GET", `/services/${engineId}`);
    const t0 = Date.now();
    await this.api("POST", `/services/${engineId}/update?version=${cur.Version.Index}`, spec);
    const state = await this.waitConverged(r.name, converge?.timeoutMs ?? 180_000, t0);
    const message = state === "completed" ? "" : ` (${await this.whyNot(engineId)})`;
    this.log(`service ${spec.Name} update ${state}${message} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return state;
  }

  /** The update status message and the errors of the service's failed tasks. */
  private async whyNot(engineId: string): Promise<string> {
    const svc = await this.api("GET", `/services/${engineId}`);
    const filters = encodeURIComponent(JSON.stringify({ service: [engineId] }));
    const failed = ((await this.api("GET", `/tasks?filters=${filters}`)) as Json[])
      .filter((t) => t.Status.Err || ["failed", "rejected"].includes(t.Status.State))
      .map((t) => t.ID as string);
    const lines = await Promise.all(
      failed.map(async (id) => {
        const t = await this.api("GET", `/tasks/${id}`);
        const logs = await api(
          "GET",
          `/tasks/${id}/logs?stdout=1&stderr=1&tail=5`,
          undefined,
          30_000,
          this.opts.socketPath,
        );
        const text = demux(logs.body).trim();
        return `${id.slice(0, 12)} ${t.Status.State}: ${t.Status.Err ?? t.Status.Message}; last log: ${text}`;
      }),
    );
    return [svc.UpdateStatus?.Message, ...lines].join("; ");
  }

  serviceId(recordedName: string): string {
    const id = this.services.get(recordedName);
    if (!id) throw new Error(`service ${recordedName} was not created by this player`);
    return id;
  }

  /** Tasks of a service that should be running, with their state and node id. */
  async tasks(recordedName: string): Promise<{ state: string; node: string; id: string }[]> {
    const filters = encodeURIComponent(
      JSON.stringify({ service: [this.serviceId(recordedName)], "desired-state": ["running"] }),
    );
    const tasks = (await this.api("GET", `/tasks?filters=${filters}`)) as Json[];
    return tasks.map((t) => ({ state: t.Status.State, node: t.NodeID, id: t.ID }));
  }

  /**
   * Waits (bounded) until the service converged: its update (one started after `updatedAt`, epoch
   * ms, when given) ended, and every task that should run is running (replicated: as many as its
   * replicas). The engine runs on this machine's clock (the VPS containers share its kernel).
   */
  async waitConverged(recordedName: string, timeoutMs: number, updatedAt?: number): Promise<Converged> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const svc = await this.api("GET", `/services/${this.serviceId(recordedName)}`);
      const started = Date.parse(svc.UpdateStatus?.StartedAt ?? "");
      const update: string | undefined =
        updatedAt !== undefined && started >= updatedAt - 1000 ? svc.UpdateStatus?.State : undefined;
      const tasks = await this.tasks(recordedName);
      const want = svc.Spec.Mode.Replicated?.Replicas;
      const allRunning =
        tasks.length > 0 &&
        tasks.every((t) => t.state === "running") &&
        (want === undefined || tasks.length === want);
      last = `update ${update ?? "-"}, tasks ${tasks.map((t) => t.state).join(",")}`;
      if (updatedAt === undefined) {
        if (allRunning) return "created";
      } else if (update && ["completed", "rollback_completed"].includes(update) && allRunning) {
        return update as Converged;
      } else if (update && ["paused", "rollback_paused"].includes(update)) {
        return update as Converged;
      }
      if (Date.now() > deadline) throw new Error(`service ${recordedName} did not converge: ${last}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  }

  /** Removes every service this player created (secrets and configs follow once no task holds them). */
  async cleanup(): Promise<void> {
    for (const id of this.services.values())
      await this.api("DELETE", `/services/${id}`, undefined, [200, 204, 404]).catch(() => undefined);
    this.services.clear();
  }
}
