// The console's server: static files of the web app, sign-in, and a thin proxy that forwards each
// call to the apiserver with the signed-in user's own credential. It holds no credential of its own,
// so a user sees and does exactly what RBAC, quota and the admission webhooks let them.
import { createReadStream, promises as fs } from "node:fs";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { Agent, request as httpsRequest, type RequestOptions } from "node:https";
import { extname, join, normalize, resolve, sep } from "node:path";
import type { Logger } from "pino";
import { readAtMost } from "../../operators/runtime/bounded.ts";
import { credentialsOf, SignInError, signInBody, type Credential } from "./credentials.ts";
import { cookieOf, SESSION_COOKIE, Sessions, type Session } from "./sessions.ts";

export interface ConsoleOptions {
  /** The apiserver, e.g. https://127.0.0.1:16403 or https://kubernetes.default.svc. */
  apiserver: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  ca: string;
  /** The built web app (index.html and assets/). */
  staticDir: string;
  /** Mark the session cookie Secure (the console is served over HTTPS, e.g. behind an Ingress). */
  secureCookies: boolean;
  sessionTtlMs: number;
  maxSessions: number;
  log: Logger;
}

/** Bodies the console accepts: a sign-in (a kubeconfig) and object writes. */
const MAX_SIGN_IN = 64 * 1024;
const MAX_WRITE = 1024 * 1024;
/** The header every proxied call must carry: a page of another site cannot set it without CORS. */
export const CSRF_HEADER = "x-cellcloud-console";
/** Request headers passed on to the apiserver; everything else (cookies, Authorization, Impersonate-*) is dropped. */
const FORWARDED_REQUEST = ["accept", "content-type"];
/** Response headers passed back to the browser. */
const FORWARDED_RESPONSE = ["content-type", "warning", "audit-id", "retry-after"];

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".json": "application/json", ".woff2": "font/woff2",
};

/** The apiserver path a proxied request names, or undefined when it is not an API path. */
export function apiPath(url: string): string | undefined {
  if (!url.startsWith("/k8s/")) return undefined;
  const rest = url.slice("/k8s".length);
  const q = rest.indexOf("?");
  const path = q < 0 ? rest : rest.slice(0, q);
  // no dot segments, encoded slashes or empty segments: the apiserver sees the path the user meant
  if (/(^|\/)\.\.?(\/|$)|%2f|%2e|\/\/|\\/i.test(path)) return undefined;
  if (!/^\/(api|apis|version)(\/|$)/.test(path)) return undefined;
  return rest;
}

/** The query parameter the web app adds to a watch it wants in the table format (a WebSocket cannot set Accept). */
export const TABLE_PARAM = "cellcloud-table";
const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/**
 * A watch the browser opens as a WebSocket: the apiserver path with the console's own parameter
 * removed, and the Accept it stands for; undefined when it is not a watch (exec, attach and
 * port-forward are never proxied).
 */
export function watchTarget(url: string): { path: string; accept: string } | undefined {
  const target = apiPath(url);
  if (!target) return undefined;
  const q = target.indexOf("?");
  if (q < 0) return undefined;
  const params = new URLSearchParams(target.slice(q + 1));
  if (!["1", "true"].includes(params.get("watch") ?? "")) return undefined;
  const table = params.has(TABLE_PARAM);
  params.delete(TABLE_PARAM);
  return { path: `${target.slice(0, q)}?${params.toString()}`, accept: table ? TABLE_ACCEPT : "application/json" };
}

/** Whether a WebSocket's Origin is the console itself: a page of another site may not open one with the user's cookie. */
export function sameOrigin(headers: IncomingHttpHeaders): boolean {
  const origin = headers.origin, host = headers.host;
  return !!origin && !!host && (origin === `http://${host}` || origin === `https://${host}`);
}

/** The headers sent to the apiserver for a user's request. */
export function forwardedHeaders(incoming: IncomingHttpHeaders, credential: Credential): Record<string, string> {
  const out: Record<string, string> = { "user-agent": "cellcloud-console" };
  for (const h of FORWARDED_REQUEST) {
    const v = incoming[h];
    if (typeof v === "string") out[h] = v;
  }
  if (credential.kind === "token") out.authorization = `Bearer ${credential.token}`;
  return out;
}

export class ConsoleServer {
  readonly sessions: Sessions;
  private readonly tokenAgent: Agent;
  private readonly certAgents = new WeakMap<Credential, Agent>();
  private readonly api: URL;
  private readonly opts: ConsoleOptions;

  constructor(opts: ConsoleOptions) {
    this.opts = opts;
    this.sessions = new Sessions(opts.sessionTtlMs, opts.maxSessions);
    this.api = new URL(opts.apiserver);
    this.tokenAgent = new Agent({ ca: opts.ca, keepAlive: true, maxSockets: 256 });
  }

  /** The request handler; it never throws (every failure is an answer). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.route(req, res).catch((e: unknown) => {
      this.opts.log.error({ err: (e as Error).message, path: req.url?.split("?")[0] }, "console request failed");
      if (!res.headersSent) reply(res, 500, { message: "internal error in the console server" });
      else res.destroy();
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const path = url.split("?")[0] ?? "/";
    if (path === "/healthz") return reply(res, 200, { ok: true });
    if (path === "/console/login" && req.method === "POST") return this.signIn(req, res);
    if (path === "/console/logout" && req.method === "POST") {
      this.sessions.delete(cookieOf(req.headers.cookie));
      res.setHeader("set-cookie", this.cookie("", true));
      return reply(res, 200, { ok: true });
    }
    if (path === "/console/whoami") {
      const s = this.sessions.get(cookieOf(req.headers.cookie));
      return s ? reply(res, 200, { user: s.user, groups: s.groups, namespaces: s.namespaces }) : reply(res, 401, { message: "not signed in" });
    }
    if (path.startsWith("/k8s/")) return this.proxy(req, res, url);
    if (req.method !== "GET" && req.method !== "HEAD") return reply(res, 405, { message: "method not allowed" });
    return this.serveStatic(path, res);
  }

  /**
   * A watch over a WebSocket (browsers allow only six HTTP/1.1 connections to a host, and each open
   * watch holds one; WebSockets do not count). The upgrade is passed to the apiserver with the
   * user's credential and the two sockets are joined. Never throws.
   */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const refuse = (code: number, text: string) => {
      socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${text}\n`);
    };
    socket.on("error", () => socket.destroy());
    try {
      const session = this.sessions.get(cookieOf(req.headers.cookie));
      if (!session) return refuse(401, "Unauthorized");
      if (!sameOrigin(req.headers)) return refuse(403, "Forbidden");
      const target = watchTarget(req.url ?? "");
      if (req.method !== "GET" || !target || (req.headers.upgrade ?? "").toLowerCase() !== "websocket") return refuse(400, "Bad Request");
      const headers = forwardedHeaders({ accept: target.accept }, session.credential);
      headers.connection = "Upgrade";
      headers.upgrade = "websocket";
      // the apiserver's WebSocket handshake wants an Origin; it is the console's own, checked above
      headers.origin = req.headers.origin!;
      for (const h of ["sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol"]) {
        const v = req.headers[h];
        if (typeof v === "string") headers[h] = v;
      }
      const up = httpsRequest(this.requestOptions(session.credential, "GET", target.path, headers));
      up.setTimeout(30_000, () => up.destroy(new Error("apiserver timed out")));
      up.on("upgrade", (answer, upSocket, upHead) => {
        up.setTimeout(0);
        const lines = [`HTTP/1.1 101 Switching Protocols`];
        for (const h of ["upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol"]) {
          const v = answer.headers[h];
          if (typeof v === "string") lines.push(`${h}: ${v}`);
        }
        socket.write(`${lines.join("\r\n")}\r\n\r\n`);
        if (upHead.length) socket.write(upHead);
        if (head.length) upSocket.write(head);
        upSocket.on("error", () => socket.destroy());
        socket.on("close", () => upSocket.destroy());
        upSocket.on("close", () => socket.destroy());
        upSocket.pipe(socket);
        socket.pipe(upSocket);
      });
      // not upgraded: the apiserver refused (403, 404...): the browser sees the WebSocket fail, and its list said why
      up.on("response", (answer) => {
        answer.resume();
        refuse(answer.statusCode ?? 502, answer.statusMessage ?? "Refused");
      });
      up.on("error", () => { if (socket.writable) refuse(502, "Bad Gateway"); else socket.destroy(); });
      socket.on("close", () => up.destroy());
      up.end();
    } catch (e) {
      this.opts.log.error({ err: (e as Error).message }, "console upgrade failed");
      socket.destroy();
    }
  };

  /** The session cookie: no Max-Age (the server's idle timeout decides), or Max-Age=0 to clear it. */
  private cookie(value: string, clear = false): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${clear ? "; Max-Age=0" : ""}${this.opts.secureCookies ? "; Secure" : ""}`;
  }

  private async signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!req.headers[CSRF_HEADER]) return reply(res, 403, { message: `missing ${CSRF_HEADER} header` });
    const raw = await readAtMost(req, MAX_SIGN_IN);
    if (!raw) return reply(res, 413, { message: `sign-in body larger than ${MAX_SIGN_IN} bytes` });
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      return reply(res, 400, { message: "sign-in body is not JSON" });
    }
    const body = signInBody.safeParse(json);
    if (!body.success) return reply(res, 400, { message: body.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ") });
    let signIn;
    try {
      signIn = credentialsOf(body.data);
    } catch (e) {
      if (e instanceof SignInError) return reply(res, 400, { message: e.message });
      throw e;
    }
    // who the apiserver says these credentials are: the only proof the console asks for
    let review: { status: number; body: string };
    try {
      review = await this.call(signIn.credential, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" }));
    } catch (e) {
      // a certificate the TLS layer refuses, the apiserver away: say so, as a gateway would
      return reply(res, 502, { message: `the apiserver could not be asked who you are: ${(e as Error).message}` });
    }
    if (review.status === 401) return reply(res, 401, { message: "the apiserver did not accept these credentials (401 Unauthorized)" });
    if (review.status !== 201 && review.status !== 200) return reply(res, 502, { message: `the apiserver answered the sign-in with ${review.status}` });
    const info = (JSON.parse(review.body) as { status?: { userInfo?: { username?: string; groups?: string[] } } }).status?.userInfo;
    const session = this.sessions.create({
      credential: signIn.credential, user: info?.username ?? "?", groups: info?.groups ?? [], namespaces: signIn.namespaces,
    });
    this.opts.log.info({ user: session.user }, "signed in");
    res.setHeader("set-cookie", this.cookie(session.id));
    return reply(res, 200, { user: session.user, groups: session.groups, namespaces: session.namespaces });
  }

  private agentFor(c: Credential): Agent {
    if (c.kind === "token") return this.tokenAgent;
    let agent = this.certAgents.get(c);
    if (!agent) {
      agent = new Agent({ ca: this.opts.ca, cert: c.cert, key: c.key, keepAlive: true, maxSockets: 64 });
      this.certAgents.set(c, agent);
    }
    return agent;
  }

  private requestOptions(c: Credential, method: string, path: string, headers: Record<string, string>): RequestOptions {
    return { protocol: this.api.protocol, hostname: this.api.hostname, port: this.api.port, method, path, headers, agent: this.agentFor(c) };
  }

  /** One whole request to the apiserver with a user's credential (sign-in's review). */
  private call(c: Credential, method: string, path: string, body: string): Promise<{ status: number; body: string }> {
    return new Promise((done, fail) => {
      const headers = forwardedHeaders({ "content-type": "application/json", accept: "application/json" }, c);
      const r = httpsRequest(this.requestOptions(c, method, path, headers), (up) => {
        readAtMost(up, MAX_WRITE).then((b) => done({ status: up.statusCode ?? 502, body: b?.toString("utf8") ?? "{}" }), fail);
      });
      r.setTimeout(15_000, () => r.destroy(new Error("apiserver timed out")));
      r.on("error", fail);
      r.end(body);
    });
  }

  private async proxy(req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    const session: Session | undefined = this.sessions.get(cookieOf(req.headers.cookie));
    if (!session) return reply(res, 401, { message: "not signed in (or the session expired): sign in again" });
    if (!req.headers[CSRF_HEADER]) return reply(res, 403, { message: `missing ${CSRF_HEADER} header` });
    const target = apiPath(url);
    if (!target) return reply(res, 404, { message: "the console forwards only /api, /apis and /version paths" });
    const method = req.method ?? "GET";
    if (!["GET", "POST", "PUT", "PATCH", "DELETE"].includes(method)) return reply(res, 405, { message: "method not allowed" });
    if (req.headers.upgrade) return reply(res, 400, { message: "connection upgrades (exec, attach, port-forward) are not proxied" });
    let body: Buffer | undefined;
    if (method !== "GET" && method !== "DELETE") {
      body = await readAtMost(req, MAX_WRITE);
      if (!body) return reply(res, 413, { message: `request body larger than ${MAX_WRITE} bytes` });
    } else if (method === "DELETE") {
      body = await readAtMost(req, MAX_SIGN_IN);
      if (!body) return reply(res, 413, { message: "delete options too large" });
    }
    const headers = forwardedHeaders(req.headers, session.credential);
    if (body?.length) headers["content-length"] = String(body.length);
    const watching = /[?&]watch=(1|true)(&|$)/.test(url);
    await new Promise<void>((done) => {
      const up = httpsRequest(this.requestOptions(session.credential, method, target, headers), (answer) => {
        const out: Record<string, string> = { ...SECURITY_HEADERS, "cache-control": "no-store" };
        for (const h of FORWARDED_RESPONSE) {
          const v = answer.headers[h];
          if (typeof v === "string") out[h] = v;
          else if (Array.isArray(v)) out[h] = v.join(", ");
        }
        res.writeHead(answer.statusCode ?? 502, out);
        // a watch streams for minutes: each chunk goes out as it comes
        if (watching) res.flushHeaders();
        answer.pipe(res);
        answer.on("end", done);
        answer.on("error", () => { res.destroy(); done(); });
      });
      if (!watching) up.setTimeout(60_000, () => up.destroy(new Error("apiserver timed out")));
      up.on("error", (e) => {
        if (!res.headersSent) reply(res, 502, { message: `apiserver unreachable: ${e.message}` });
        else res.destroy();
        done();
      });
      // the browser went away (a page closed, a watch aborted): stop the upstream call too
      res.on("close", () => { up.destroy(); done(); });
      up.end(body);
    });
  }

  private async serveStatic(path: string, res: ServerResponse): Promise<void> {
    const root = resolve(this.opts.staticDir);
    let file = resolve(join(root, normalize(decodeURIComponent(path))));
    if (file !== root && !file.startsWith(root + sep)) return reply(res, 404, { message: "not found" });
    let stat = await fs.stat(file).catch(() => undefined);
    if (!stat?.isFile()) {
      // the app routes in the fragment; any other path gets the page
      file = join(root, "index.html");
      stat = await fs.stat(file).catch(() => undefined);
      if (!stat?.isFile()) return reply(res, 503, { message: `the console's web app is not built (no ${file}): run 'make console'` });
    }
    const immutable = file.includes(`${sep}assets${sep}`);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "content-length": String(stat.size),
      "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    });
    await new Promise<void>((done) => {
      const s = createReadStream(file);
      s.on("error", () => { res.destroy(); done(); });
      s.on("end", done);
      s.pipe(res);
    });
  }
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(code >= 400 ? { kind: "Status", apiVersion: "v1", status: "Failure", code, ...(body as object) } : body);
  res.writeHead(code, { ...SECURITY_HEADERS, "content-type": "application/json", "cache-control": "no-store", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}
