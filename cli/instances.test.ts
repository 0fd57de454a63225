import { describe, expect, it } from "vitest";
import type { InstanceObj, InstanceStatus } from "./api.ts";
import { ApiError, CliError } from "./kube.ts";
import { failure, migrated, rebooted, requestTime, resized, settledIn } from "./instances.ts";

const vm = (generation: number, status: InstanceStatus): InstanceObj => ({ metadata: { name: "web", namespace: "acme", generation }, spec: {}, status });

describe("--wait verdicts", () => {
  it("a power state counts only once status is for the current generation; Stalled fails at once", () => {
    expect(settledIn("Stopped")(vm(3, { observedGeneration: 2, powerState: "Stopped" }))).toBe(false);
    expect(settledIn("Stopped")(vm(3, { observedGeneration: 3, powerState: "Stopped" }))).toBe(true);
    expect(settledIn("Running")(vm(3, { observedGeneration: 3, powerState: "Stopped", conditions: [{ type: "Stalled", status: "True", reason: "InvalidSpec", message: "no such image" }] })))
      .toBe("InvalidSpec: no such image");
  });

  it("a reboot is done on a new launcher, a migration when its own request succeeded", () => {
    const before = vm(4, { observedGeneration: 3, powerState: "Running", launcherPod: "web-aaaaa" });
    expect(rebooted(before)(vm(4, { observedGeneration: 4, powerState: "Running", launcherPod: "web-aaaaa" }))).toBe(false);
    expect(rebooted(before)(vm(4, { observedGeneration: 4, powerState: "Running", launcherPod: "web-bbbbb" }))).toBe(true);
    const at = "2026-12-02T06:07:07.123Z";
    const earlier = { requestedAt: "2026-12-02T06:07:07.001Z", state: "Succeeded" };
    expect(migrated(at)(vm(5, { observedGeneration: 5, powerState: "Running", migration: earlier }))).toBe(false);
    expect(migrated(at)(vm(5, { observedGeneration: 5, powerState: "Running", migration: { requestedAt: at, state: "Succeeded" } }))).toBe(true);
    expect(migrated(at)(vm(5, { observedGeneration: 5, migration: { requestedAt: at, state: "Failed", message: "no other host fits" } }))).toBe("migration failed: no other host fits");
  });

  it("a resize that needs a stop says so instead of waiting", () => {
    const needsStop = vm(6, { observedGeneration: 6, conditions: [{ type: "Ready", status: "False", reason: "ResizeRequiresStop", message: "set spec.powerState: Stopped" }] });
    expect(resized(needsStop)).toBe("ResizeRequiresStop: set spec.powerState: Stopped");
    expect(resized(vm(6, { observedGeneration: 6, conditions: [{ type: "Ready", status: "True" }] }))).toBe(true);
  });

  it("request times differ within one second: each new value acts once", () => {
    expect(requestTime(new Date(Date.UTC(2026, 11, 2, 6, 7, 7, 5)))).toBe("2026-12-02T06:07:07.005Z");
  });
});

describe("failure", () => {
  it("names the object, then the field unless the apiserver's message does, then the message as is", () => {
    expect(failure("instance acme/web", "spec.resources", new ApiError(403, "Forbidden", 'admission webhook "q" denied the request: quota acme-q')).message)
      .toBe('instance acme/web: spec.resources: admission webhook "q" denied the request: quota acme-q');
    expect(failure("instance acme/web", "spec.resources", new ApiError(422, "Invalid", "spec.resources.vcpus: Invalid value")).message)
      .toBe("instance acme/web: spec.resources.vcpus: Invalid value");
    expect(failure("instance acme/web", "spec.powerState", new ApiError(404, "NotFound", 'instances.compute.cellcloud.io "web" not found')).message)
      .toBe('instance acme/web: instances.compute.cellcloud.io "web" not found');
    expect(failure("instance acme/web", "status", new CliError("Unreachable", "cannot reach the apiserver")).message).toBe("instance acme/web: cannot reach the apiserver");
  });
});
