import { describe, expect, it } from "vitest";
import { identityOf, imageCommand, mapPath, podAddress, repositoryOf } from "./pods.ts";

describe("local data plane pods", () => {
  it("runs only the images it knows, with the container's command or the image's entrypoint", () => {
    expect(repositoryOf("docker.io/library/haproxy:2.6@sha256:abc")).toBe("haproxy");
    expect(repositoryOf("haproxy")).toBe("haproxy");
    expect(imageCommand({ image: "haproxy:2.6", command: ["/bin/sh", "/etc/run.sh"], args: ["-x"] })).toEqual(["/bin/sh", "/etc/run.sh", "-x"]);
    expect(imageCommand({ image: "haproxy:2.6" })).toEqual(["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]);
    expect(imageCommand({ image: "nginx:1.27" })).toBe("image nginx:1.27: the local data plane runs only haproxy, postgres, kafka, rabbitmq images");
  });

  it("maps paths under a mount to the directory that holds it, the longest mount first", () => {
    const mounts = [{ mountPath: "/etc/haproxy", local: "/s/v/config" }, { mountPath: "/etc/haproxy/certs/", local: "/s/v/certs" }];
    expect(mapPath("/etc/haproxy/haproxy.cfg", mounts)).toBe("/s/v/config/haproxy.cfg");
    expect(mapPath("/etc/haproxy/certs/a.pem", mounts)).toBe("/s/v/certs/a.pem");
    expect(mapPath("/etc/haproxy", mounts)).toBe("/s/v/config");
    expect(mapPath("/etc/haproxyx/a", mounts)).toBe("/etc/haproxyx/a");
    expect(mapPath("-f", mounts)).toBe("-f");
  });

  it("gives each pod its own loopback address, and a restarted agent's pods the ones they had", () => {
    const reserved = new Map<string, string>();
    const a = podAddress("127.42.0.0/16", "uid-a", undefined, reserved)!;
    expect(a).toBe("127.42.0.1");
    reserved.set(a, "uid-a");
    expect(podAddress("127.42.0.0/16", "uid-b", undefined, reserved)).toBe("127.42.0.2");
    expect(podAddress("127.42.0.0/16", "uid-a", a, reserved)).toBe(a);
    expect(podAddress("127.42.0.0/16", "uid-c", "127.42.0.9", reserved)).toBe("127.42.0.9");
    expect(podAddress("127.42.0.0/16", "uid-d", a, reserved)).toBe("127.42.0.2"); // another pod's: not taken over
    expect(podAddress("127.42.0.0/16", "uid-e", "10.0.0.1", reserved)).toBe("127.42.0.2"); // not ours
  });

  it("runs a container as its securityContext's user, the pod's when it names none", () => {
    expect(identityOf({ spec: {} })).toEqual({});
    expect(identityOf({ spec: { securityContext: { runAsUser: 999, fsGroup: 50 } } })).toEqual({ uid: 999, gid: 999, fsGroup: 50 });
    expect(identityOf({ spec: { securityContext: { runAsUser: 999, runAsGroup: 7 } } }, { securityContext: { runAsUser: 65534 } })).toEqual({ uid: 65534, gid: 7 });
  });
});
