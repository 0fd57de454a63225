import { describe, expect, it } from "vitest";
import { imageKeys, resolveImage } from "../api/compute.ts";
import { deploymentSetStatus, flavorStatus, imageStatus, keyFingerprint, keyPairStatus } from "./catalog.ts";

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

describe("image references", () => {
  const images = new Map([["team-a/rhel", "a's rhel"], ["cellcloud-images/rhel", "public rhel"], ["cellcloud-images/ubuntu", "public ubuntu"]]);
  const get = (k: string) => images.get(k);

  it("looks a NAME up in the referrer's namespace first, then in the public catalog", () => {
    expect(imageKeys("rhel", "team-a")).toEqual(["team-a/rhel", "cellcloud-images/rhel"]);
    expect(resolveImage("rhel", "team-a", get)).toEqual({ key: "team-a/rhel", image: "a's rhel" });
    expect(resolveImage("rhel", "team-b", get)).toEqual({ key: "cellcloud-images/rhel", image: "public rhel" });
    expect(resolveImage("ubuntu", "team-a", get)?.key).toBe("cellcloud-images/ubuntu");
    expect(imageKeys("ubuntu", "cellcloud-images")).toEqual(["cellcloud-images/ubuntu"]);
  });

  it("takes NAMESPACE/NAME exactly, with no fallback", () => {
    expect(imageKeys("team-a/rhel", "team-b")).toEqual(["team-a/rhel"]);
    expect(resolveImage("team-a/rhel", "team-b", get)?.image).toBe("a's rhel");
    expect(resolveImage("team-a/ubuntu", "team-b", get)).toBeUndefined();
  });

  it("says what an image is and who may use it", () => {
    const spec = { os: { type: "linux" as const, distribution: "rhel", version: "9" }, architecture: "amd64" as const, minDiskGiB: 20, source: { url: "https://x/r.img" } };
    expect(imageStatus(spec, "cellcloud-images").ready.message).toBe("rhel 9 (amd64), public, from https://x/r.img");
    expect(imageStatus({ ...spec, sharedWith: ["b"] }, "team-a").ready.message).toBe("rhel 9 (amd64), shared with b, from https://x/r.img");
    expect(imageStatus({ ...spec, source: { volume: { name: "golden" } } }, "team-a").ready.message).toBe("rhel 9 (amd64), private, from volume golden");
  });
});
