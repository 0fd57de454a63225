import { AppShell, Button, Group, Loader, NavLink, ScrollArea, Select, Text, Title } from "@mantine/core";
import { useCallback, useEffect, useMemo, useState } from "react";
import { allows, can, CSRF, useRules, useWatchList } from "./api.ts";
import { KINDS, NAMESPACES, TENANT_LABEL, type Kind } from "./resources.ts";
import { go, href, useRoute } from "./route.ts";
import { Approvals } from "./views/Approvals.tsx";
import { Capacity, Hosts, Scheduler } from "./views/Operator.tsx";
import { Instances } from "./views/Instances.tsx";
import { Quota } from "./views/Quota.tsx";
import { ResourceList } from "./views/ResourceList.tsx";
import { SignIn, type Who } from "./views/SignIn.tsx";

export function App() {
  const [who, setWho] = useState<Who | null | undefined>(undefined);
  const refresh = useCallback(() => {
    fetch("/console/whoami", { credentials: "same-origin" })
      .then((r) => (r.ok ? (r.json() as Promise<Who>) : null))
      .then(setWho, () => setWho(null));
  }, []);
  useEffect(() => {
    refresh();
    const out = () => setWho(null);
    window.addEventListener("cellcloud:signed-out", out);
    return () => window.removeEventListener("cellcloud:signed-out", out);
  }, [refresh]);
  if (who === undefined) return <Loader m="xl" aria-label="Loading" />;
  if (who === null) return <SignIn onSignedIn={setWho} />;
  return <Shell who={who} onSignOut={() => fetch("/console/logout", { method: "POST", headers: CSRF }).finally(() => setWho(null))} />;
}

const SECTIONS = ["Compute", "Storage", "Network", "Databases", "Messaging", "Billing"] as const;

function Shell({ who, onSignOut }: { who: Who; onSignOut: () => void }) {
  const route = useRoute();
  const [operator, setOperator] = useState(false);
  const [listNamespaces, setListNamespaces] = useState(false);
  useEffect(() => {
    // what the user may see decides which areas show; the apiserver answers, as the user
    can("list", { group: "platform.cellcloud.io", version: "v1alpha1", plural: "cells", namespaced: false }).then(setOperator, () => setOperator(false));
    can("list", NAMESPACES).then(setListNamespaces, () => setListNamespaces(false));
  }, []);
  const tenantNamespaces = useWatchList(listNamespaces ? NAMESPACES : undefined, undefined, `labelSelector=${encodeURIComponent(TENANT_LABEL)}`);
  const namespaces = useMemo(() => {
    const all = new Set(who.namespaces);
    for (const n of tenantNamespaces.items) all.add(n.metadata.name);
    return [...all].sort();
  }, [who.namespaces, tenantNamespaces.items]);
  const namespace = route.area === "ns" ? route.namespace : namespaces[0];
  useEffect(() => {
    if (route.area === "home") {
      if (namespaces[0]) go({ area: "ns", namespace: namespaces[0], view: "instances" });
      else if (operator) go({ area: "operator", view: "capacity" });
    }
  }, [route.area, namespaces, operator]);

  const nav = (label: string, target: string, active: boolean) => (
    <NavLink key={target} href={target} label={label} active={active} aria-current={active ? "page" : undefined} />
  );
  // only the kinds the user may list here (the apiserver's rules for the namespace); all while asking
  const rules = useRules(namespace);
  const kindsOf = (section: (typeof SECTIONS)[number]): Kind[] =>
    KINDS.filter((k) => k.section === section && (!rules || allows(rules, "list", k.group, k.plural)));

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 230, breakpoint: "sm" }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group>
            <Title order={3}>CellCloud</Title>
            <Select
              aria-label="Namespace"
              placeholder="namespace"
              data={namespaces}
              value={namespace ?? null}
              searchable
              onChange={(ns) => ns && go({ area: "ns", namespace: ns, view: route.area === "ns" ? route.view : "instances" })}
              w={220}
            />
          </Group>
          <Group>
            <Text size="sm" aria-label="Signed in as">{who.user}</Text>
            <Button variant="default" size="xs" onClick={onSignOut}>Sign out</Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Views">
        <ScrollArea>
          {namespace && (
            <>
              {SECTIONS.filter((section) => kindsOf(section).length).map((section) => (
                <NavLink key={section} label={section} defaultOpened childrenOffset={12}>
                  {kindsOf(section).map((k) => nav(k.title, href({ area: "ns", namespace, view: k.route }), route.area === "ns" && route.view === k.route))}
                </NavLink>
              ))}
              <NavLink label="Tenant" defaultOpened childrenOffset={12}>
                {nav("Quota", href({ area: "ns", namespace, view: "quota" }), route.area === "ns" && route.view === "quota")}
                {nav("Approvals", href({ area: "ns", namespace, view: "approvals" }), route.area === "ns" && route.view === "approvals")}
              </NavLink>
            </>
          )}
          {operator && (
            <NavLink label="Operator" defaultOpened childrenOffset={12}>
              {nav("Capacity", href({ area: "operator", view: "capacity" }), route.area === "operator" && route.view === "capacity")}
              {nav("Hosts", href({ area: "operator", view: "hosts" }), route.area === "operator" && route.view === "hosts")}
              {nav("Scheduler", href({ area: "operator", view: "scheduler" }), route.area === "operator" && route.view === "scheduler")}
            </NavLink>
          )}
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <Main route={route} who={who} />
      </AppShell.Main>
    </AppShell>
  );
}

function Main({ route, who }: { route: ReturnType<typeof useRoute>; who: Who }) {
  if (route.area === "operator") {
    if (route.view === "hosts") return <Hosts />;
    if (route.view === "scheduler") return <Scheduler />;
    return <Capacity />;
  }
  if (route.area !== "ns") return <Text>Pick a namespace above (sign in with one if the list is empty).</Text>;
  const { namespace, view, name } = route;
  if (view === "instances") return <Instances namespace={namespace} selected={name} />;
  if (view === "quota") return <Quota namespace={namespace} />;
  if (view === "approvals") return <Approvals namespace={namespace} user={who.user} />;
  const kind = KINDS.find((k) => k.route === view);
  if (!kind) return <Text>No view {view}.</Text>;
  return <ResourceList kind={kind} namespace={namespace} selected={name} />;
}
