import assert from "node:assert/strict";
import { before, test } from "node:test";
import { installMocks, isSecret, Recorder, settle, unwrap, isSecretInput, reveal } from "../support/mocks";
import { InternalCa } from "../../components/edge/InternalCa";

let rec: Recorder;
let ca: InternalCa;

before(async () => {
  rec = await installMocks("local", {
    state: (r) => {
      switch (r.type) {
        case "tls:index/privateKey:PrivateKey":
          return { privateKeyPem: `KEY(${r.name})` };
        case "tls:index/selfSignedCert:SelfSignedCert":
          return { certPem: "CA-CERT\n" };
        case "tls:index/certRequest:CertRequest":
          return { certRequestPem: "CSR" };
        case "tls:index/locallySignedCert:LocallySignedCert":
          return { certPem: "LEAF-CERT\n" };
        default:
          return {};
      }
    },
  });
  ca = new InternalCa("internal-ca", { hostnames: ["app.example.test", "admin.example.test"] });
  await settle();
});

test("CA: self-signed, CA-only uses, no intermediate CAs below it", () => {
  const c = rec.one("tls:index/selfSignedCert:SelfSignedCert", "internal-ca-ca").inputs;
  assert.equal(c.isCaCertificate, true);
  assert.equal(c.maxPathLength, 0);
  assert.deepEqual([...c.allowedUses].sort(), ["cert_signing", "crl_signing", "digital_signature"]);
  assert.equal(isSecretInput(c.privateKeyPem), true);
  assert.equal(reveal(c.privateKeyPem), "KEY(internal-ca-ca-key)");
});

test("keys are ECDSA P-256", () => {
  for (const k of rec.ofType("tls:index/privateKey:PrivateKey")) {
    assert.equal(k.inputs.algorithm, "ECDSA");
    assert.equal(k.inputs.ecdsaCurve, "P256");
  }
  assert.equal(rec.ofType("tls:index/privateKey:PrivateKey").length, 2);
});

test("server cert: every hostname, server auth only, signed by the CA, renewed early", () => {
  const csr = rec.one("tls:index/certRequest:CertRequest", "internal-ca-server-csr").inputs;
  assert.deepEqual(csr.dnsNames, ["app.example.test", "admin.example.test"]);
  assert.equal(csr.subject.commonName, "app.example.test");
  assert.equal(reveal(csr.privateKeyPem), "KEY(internal-ca-server-key)");
  const cert = rec.one("tls:index/locallySignedCert:LocallySignedCert", "internal-ca-server").inputs;
  assert.equal(cert.isCaCertificate, undefined);
  assert.deepEqual([...cert.allowedUses].sort(), ["digital_signature", "key_encipherment", "server_auth"]);
  assert.equal(cert.caCertPem, "CA-CERT\n");
  assert.equal(isSecretInput(cert.caPrivateKeyPem), true);
  assert.equal(reveal(cert.caPrivateKeyPem), "KEY(internal-ca-ca-key)");
  assert.equal(cert.certRequestPem, "CSR");
  assert.ok(cert.earlyRenewalHours > 0);
});

test("outputs: chain is leaf then CA, key is the server key and secret", async () => {
  assert.equal(await unwrap(ca.certPem), "LEAF-CERT\nCA-CERT\n");
  assert.equal(await unwrap(ca.caCertPem), "CA-CERT\n");
  assert.equal(await unwrap(ca.keyPem), "KEY(internal-ca-server-key)");
  assert.equal(await isSecret(ca.keyPem), true);
});

test("no hostname is refused", () => {
  assert.throws(() => new InternalCa("empty", { hostnames: [] }), /at least one hostname/);
});
