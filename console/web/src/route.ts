// The console routes in the URL's fragment: #/ns/<namespace>/<view>[/<name>] for a tenant's views,
// #/operator/<view> for the operator's. `kubectl cellcloud console-url` prints such links.
import { useEffect, useState } from "react";

export type Route =
  | { area: "ns"; namespace: string; view: string; name?: string }
  | { area: "operator"; view: string }
  | { area: "home" };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "ns" && parts[1]) return { area: "ns", namespace: parts[1], view: parts[2] ?? "instances", name: parts[3] };
  if (parts[0] === "operator") return { area: "operator", view: parts[1] ?? "capacity" };
  return { area: "home" };
}

export function href(r: Route): string {
  if (r.area === "ns") return `#/ns/${encodeURIComponent(r.namespace)}/${r.view}${r.name ? `/${encodeURIComponent(r.name)}` : ""}`;
  if (r.area === "operator") return `#/operator/${r.view}`;
  return "#/";
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

export function go(r: Route): void {
  window.location.hash = href(r);
}
