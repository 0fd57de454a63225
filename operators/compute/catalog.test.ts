import { describe, expect, it } from "vitest";
import { deploymentSetStatus, flavorStatus, keyFingerprint, keyPairStatus } from "./catalog.ts";

// Generated with ssh-keygen -t ed25519; `ssh-keygen -lf` prints the fingerprint below.
const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCv2o//hoglfeaB8uulpobDLmoPPYqgGaVA63agx92X demo@cellcloud";

describe("ECS catalog status", () => {
  it("fingerprints a key as ssh-keygen -l does", () => {
    expect(keyFingerprint(key)).toEqual({ fingerprint: "SHA256:Bs7DDHxAOM34xC4zCkZMMKV3IJCZPXrB4ki+jOKFVF4" });
    expect(keyPairStatus({ publicKey: key })).toMatchObject({ ready: { status: "True" }, fields: { fingerprint: "SHA256:Bs7DDHxAOM34xC4zCkZMMKV3IJCZPXrB4ki+jOKFVF4" } });
  });

  it("refuses a key whose data is not of its declared type", () => {
    const mislabelled = key.replace(/^ssh-ed25519/, "ssh-rsa");
    expect(keyPairStatus({ publicKey: mislabelled }).ready).toMatchObject({ status: "False", reason: "InvalidPublicKey" });
    expect(keyPairStatus({ publicKey: "ssh-ed25519 AAAA" }).ready).toMatchObject({ status: "False", reason: "InvalidPublicKey" });
  });

  it("describes flavors and spread groups for humans", () => {
    expect(flavorStatus({ vcpus: 2, memory: "4Gi", architectures: ["amd64", "arm64"], family: "general", onlineResize: false }).ready.message)
      .toBe("2 vCPU, 4Gi (general) on amd64, arm64");
    expect(deploymentSetStatus({ domain: "rack", mode: "strict", maxPerDomain: 1 }).ready.message).toBe("members spread over racks, at most 1 per rack");
  });
});
