import assert from "node:assert/strict";
import { before, test } from "node:test";
import { installMocks, Recorder, settle, unwrap, fakeResource, recordOptions } from "../support/mocks";
import { Network } from "../../components/network/Network";
import { gateEveryResource } from "../../components/release/gate";

const NET = "docker:index/network:Network";
let rec: Recorder;
let opts: ReturnType<typeof recordOptions>;
let net: Network;

before(async () => {
  rec = await installMocks("local");
  opts = recordOptions();
  const gate = fakeResource("test:index:Gate", "gate");
  net = new Network(
    "net",
    { internalSubnet: "172.30.0.0/24" },
    { transformations: [gateEveryResource(gate)] },
  );
  await settle();
});

test("internal network is internal (no egress) with the fixed subnet", () => {
  const internal = rec.one(NET, "net-internal").inputs;
  assert.equal(internal.internal, true);
  assert.equal(internal.driver, "bridge");
  assert.deepEqual(internal.ipamConfigs, [{ subnet: "172.30.0.0/24" }]);
});

test("edge network has egress and a subnet that does not overlap the internal one", () => {
  const edge = rec.one(NET, "net-edge").inputs;
  assert.notEqual(edge.internal, true);
  assert.deepEqual(edge.ipamConfigs, [{ subnet: "172.31.0.0/24" }]);
});

test("exactly two networks, both behind the release gate", () => {
  assert.equal(rec.ofType(NET).length, 2);
  for (const n of ["net-edge", "net-internal"]) {
    assert.ok(
      opts.of(NET, n).dependencies.some((u) => u.endsWith("::gate")),
      `${n} depends on the gate`,
    );
  }
});

test("outputs: network names and subnet", async () => {
  assert.equal(await unwrap(net.edgeName), "net-edge");
  assert.equal(await unwrap(net.internalName), "net-internal");
  assert.equal(net.internalSubnet, "172.30.0.0/24");
});
