// The console server's input handling: sign-in bodies and kubeconfigs, the paths and headers it
// forwards, and its session store.
import { describe, expect, it } from "vitest";
import { apiPath, forwardedHeaders } from "./app.ts";
import { credentialsOf, SignInError, signInBody } from "./credentials.ts";
import { cookieOf, Sessions } from "./sessions.ts";

const pem = (label: string) => Buffer.from(`-----BEGIN ${label}-----\nMIIB\n-----END ${label}-----\n`).toString("base64");
const kubeconfig = (user: string, extra = "") => `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: x, cluster: {server: "https://evil.example.com"}}]
contexts: [{name: c, context: {cluster: x, user: u, namespace: acme-prod}}${extra}]
users: [{name: u, user: ${user}}]
`;

describe("sign-in", () => {
  it("accepts a token or a kubeconfig, not both, and bounds every field", () => {
    expect(signInBody.safeParse({ token: "abc.def" }).success).toBe(true);
    expect(signInBody.safeParse({ token: "a", kubeconfig: "x" }).success).toBe(false);
    expect(signInBody.safeParse({}).success).toBe(false);
    expect(signInBody.safeParse({ token: "has space" }).success).toBe(false);
    expect(signInBody.safeParse({ token: "x".repeat(9000) }).success).toBe(false);
    expect(signInBody.safeParse({ token: "t", namespaces: ["Not_A_Label"] }).success).toBe(false);
    expect(signInBody.safeParse({ token: "t", extra: 1 }).success).toBe(false);
  });

  it("takes the current context's token or embedded certificate, and its namespace; never the file's server", () => {
    const t = credentialsOf(signInBody.parse({ kubeconfig: kubeconfig("{token: tok123}") }));
    expect(t).toEqual({ credential: { kind: "token", token: "tok123" }, namespaces: ["acme-prod"] });
    const c = credentialsOf(signInBody.parse({ kubeconfig: kubeconfig(`{client-certificate-data: ${pem("CERTIFICATE")}, client-key-data: ${pem("PRIVATE KEY")}}`), namespaces: ["other"] }));
    expect(c.credential.kind).toBe("certificate");
    expect(c.namespaces).toEqual(["acme-prod", "other"]);
    expect(JSON.stringify(c)).not.toContain("evil.example.com");
  });

  it("says why a kubeconfig cannot be used, naming the field", () => {
    const fail = (kc: string, context?: string) => {
      try {
        credentialsOf(signInBody.parse({ kubeconfig: kc, context }));
      } catch (e) {
        expect(e).toBeInstanceOf(SignInError);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(fail(kubeconfig("{exec: {command: aws}}"))).toMatch(/no token and no client-certificate-data.*uses exec/);
    expect(fail(kubeconfig("{client-certificate: /etc/x.crt, client-key: /etc/x.key}"))).toMatch(/client-certificate, client-key/);
    expect(fail(kubeconfig("{token: t}"), "nope")).toMatch(/no context "nope"/);
    expect(fail("users: [1, 2")).toMatch(/not YAML/);
    expect(fail(kubeconfig(`{client-certificate-data: ${Buffer.from("junk").toString("base64")}, client-key-data: ${pem("KEY")}}`))).toMatch(/client-certificate-data is not base64 of a PEM block/);
    expect(fail("a: &a [*a, *a]\nb: [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]")).toBeTruthy();
  });
});

describe("proxy", () => {
  it("forwards only API paths, without dot segments or encoded slashes", () => {
    expect(apiPath("/k8s/api/v1/namespaces/a/pods?watch=1")).toBe("/api/v1/namespaces/a/pods?watch=1");
    expect(apiPath("/k8s/apis/compute.cellcloud.io/v1alpha1/instances")).toBe("/apis/compute.cellcloud.io/v1alpha1/instances");
    expect(apiPath("/k8s/version")).toBe("/version");
    for (const bad of ["/k8s/metrics", "/k8s/api/../metrics", "/k8s/api/v1/%2e%2e/x", "/k8s/apis/a%2Fb", "/k8s//api/v1", "/k8s/logs", "/k8s/apiv1", "/api/v1"]) {
      expect(apiPath(bad), bad).toBeUndefined();
    }
  });

  it("sends the user's own credential and drops cookies, Authorization and impersonation from the browser", () => {
    const h = forwardedHeaders({ accept: "application/json", cookie: "s=1", authorization: "Bearer browser", "impersonate-user": "admin", "impersonate-group": "system:masters", "content-type": "application/merge-patch+json" }, { kind: "token", token: "user-token" });
    expect(h).toEqual({ "user-agent": "cellcloud-console", accept: "application/json", "content-type": "application/merge-patch+json", authorization: "Bearer user-token" });
    const c = forwardedHeaders({ authorization: "Bearer x" }, { kind: "certificate", cert: "c", key: "k" });
    expect(c.authorization).toBeUndefined();
  });
});

describe("sessions", () => {
  it("expire after the idle time, are extended by use, and are bounded in number", () => {
    let now = 0;
    const s = new Sessions(1000, 2, () => now);
    const a = s.create({ credential: { kind: "token", token: "a" }, user: "a", groups: [], namespaces: [] });
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    now = 900;
    expect(s.get(a.id)?.user).toBe("a");
    now = 1800;
    expect(s.get(a.id)?.user).toBe("a");
    now = 2801;
    expect(s.get(a.id)).toBeUndefined();
    const b = s.create({ credential: { kind: "token", token: "b" }, user: "b", groups: [], namespaces: [] });
    s.create({ credential: { kind: "token", token: "c" }, user: "c", groups: [], namespaces: [] });
    s.create({ credential: { kind: "token", token: "d" }, user: "d", groups: [], namespaces: [] });
    expect(s.size).toBe(2);
    expect(s.get(b.id)).toBeUndefined();
  });

  it("reads its cookie among others", () => {
    expect(cookieOf("a=1; cellcloud_console=xyz; b=2")).toBe("xyz");
    expect(cookieOf(undefined)).toBeUndefined();
    expect(cookieOf("cellcloud_consolex=1")).toBeUndefined();
  });
});
