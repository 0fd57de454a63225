// ECS instances: live list with power state, size, arch, host and addresses; the actions write the
// declarative fields (spec.powerState, restartRequestedAt, migration, flavor) as `kubectl cellcloud`
// does; create from flavor + image + subnet + volumes with the billing estimate of a dry run.
import { Alert, Badge, Button, Group, Loader, Menu, Modal, MultiSelect, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { ApiError, collectionPath, k8s, mergePatch, objectPath, useWatchList, type KubeObject } from "../api.ts";
import { ESTIMATE, FLAVORS, IMAGES, INSTANCES, KINDS, PUBLIC_IMAGES } from "../resources.ts";
import { go } from "../route.ts";
import { Details } from "./Details.tsx";
import { ErrorAlert, ObjectTable } from "./ResourceList.tsx";

const POWER_COLOR: Record<string, string> = { Running: "green", Stopped: "gray", Paused: "yellow", Pending: "blue", Starting: "blue", Stopping: "orange", Rebooting: "orange", Migrating: "violet", Rebuilding: "violet" };
const SUBNETS = KINDS.find((k) => k.plural === "subnets")!;
const VOLUMES = KINDS.find((k) => k.plural === "volumes")!;

export function Instances({ namespace, selected }: { namespace: string; selected?: string }) {
  const list = useWatchList(INSTANCES, namespace);
  const [actionError, setActionError] = useState<ApiError>();
  const [creating, setCreating] = useState(false);
  const [resizing, setResizing] = useState<KubeObject>();
  const [migrating, setMigrating] = useState<KubeObject>();
  const act = (o: KubeObject, patch: unknown) => {
    setActionError(undefined);
    mergePatch(INSTANCES, o.metadata.name, namespace, patch).catch((e: ApiError) => setActionError(e));
  };
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const columns = INSTANCES.columns ?? [];
  return (
    <>
      <Group justify="space-between" mb="sm">
        <Title order={2}>Instances</Title>
        <Group>
          {!list.loaded && <Loader size="sm" aria-label="Loading" />}
          <Button onClick={() => setCreating(true)}>Create instance</Button>
        </Group>
      </Group>
      <ErrorAlert error={list.error} />
      <ErrorAlert error={actionError} title="Action refused" />
      <ObjectTable
        label="Instances"
        items={list.items}
        headers={columns.map((c) => c.title)}
        cells={(o) => columns.map((c) => (c.title === "Power" ? <Badge color={POWER_COLOR[c.value(o)] ?? "gray"}>{c.value(o) || "—"}</Badge> : c.value(o)))}
        onOpen={(o) => go({ area: "ns", namespace, view: "instances", name: o.metadata.name })}
        actions={(o) => (
          <Menu position="bottom-end" withinPortal>
            <Menu.Target>
              <Button variant="default" size="xs" aria-label={`Actions for ${o.metadata.name}`}>Actions</Button>
            </Menu.Target>
            <Menu.Dropdown>
              <Menu.Item onClick={() => act(o, { spec: { powerState: "Running" } })}>Start</Menu.Item>
              <Menu.Item onClick={() => act(o, { spec: { powerState: "Stopped" } })}>Stop</Menu.Item>
              <Menu.Item onClick={() => act(o, { spec: { powerState: "Paused" } })}>Pause</Menu.Item>
              <Menu.Item onClick={() => act(o, { spec: { restartRequestedAt: now() } })}>Reboot</Menu.Item>
              <Menu.Item onClick={() => setResizing(o)}>Resize…</Menu.Item>
              <Menu.Item onClick={() => setMigrating(o)}>Migrate…</Menu.Item>
              <Menu.Divider />
              <Menu.Item color="red" onClick={() => k8s(objectPath(INSTANCES, o.metadata.name, namespace), { method: "DELETE" }).catch((e: ApiError) => setActionError(e))}>Delete</Menu.Item>
            </Menu.Dropdown>
          </Menu>
        )}
      />
      {list.loaded && !list.error && list.items.length === 0 && <Text c="dimmed">No instances in {namespace}.</Text>}
      <Details object={list.items.find((o) => o.metadata.name === selected)} kind="Instance" onClose={() => go({ area: "ns", namespace, view: "instances" })} />
      {creating && <CreateInstance namespace={namespace} onClose={() => setCreating(false)} />}
      {resizing && <Resize instance={resizing} onClose={() => setResizing(undefined)} onPatch={(p) => act(resizing, p)} />}
      {migrating && (
        <Modal opened onClose={() => setMigrating(undefined)} title={`Migrate ${migrating.metadata.name}`}>
          <MigrateForm onSubmit={(target) => { act(migrating, { spec: { migration: { requestedAt: now(), targetNode: target || null } } }); setMigrating(undefined); }} />
        </Modal>
      )}
    </>
  );
}

function MigrateForm({ onSubmit }: { onSubmit: (target: string) => void }) {
  const [target, setTarget] = useState("");
  return (
    <form onSubmit={(e) => { e.preventDefault(); onSubmit(target.trim()); }}>
      <Stack>
        <TextInput label="Target host" description="Empty: any other suitable host" value={target} onChange={(e) => setTarget(e.currentTarget.value)} />
        <Button type="submit">Migrate</Button>
      </Stack>
    </form>
  );
}

function Resize({ instance, onClose, onPatch }: { instance: KubeObject; onClose: () => void; onPatch: (p: unknown) => void }) {
  const flavors = useWatchList(FLAVORS);
  const [flavor, setFlavor] = useState<string | null>(instance.spec?.flavor ?? null);
  return (
    <Modal opened onClose={onClose} title={`Resize ${instance.metadata.name}`}>
      <form onSubmit={(e) => { e.preventDefault(); if (flavor) onPatch({ spec: { flavor, resources: null } }); onClose(); }}>
        <Stack>
          <Select label="Flavor" data={flavors.items.map((f) => ({ value: f.metadata.name, label: `${f.metadata.name} (${f.spec?.vcpus} vCPU, ${f.spec?.memory})` }))} value={flavor} onChange={setFlavor} searchable required />
          <Button type="submit" disabled={!flavor}>Resize</Button>
        </Stack>
      </form>
    </Modal>
  );
}

export function instanceBody(namespace: string, f: { name: string; flavor: string; image: string; subnet?: string; volumes: string[] }): KubeObject {
  return {
    apiVersion: `${INSTANCES.group}/${INSTANCES.version}`,
    kind: "Instance",
    metadata: { name: f.name, namespace },
    spec: {
      flavor: f.flavor,
      image: f.image,
      ...(f.subnet ? { nics: [{ subnet: f.subnet }] } : {}),
      ...(f.volumes.length ? { dataVolumes: f.volumes.map((volume) => ({ volume })) } : {}),
    },
  };
}

function CreateInstance({ namespace, onClose }: { namespace: string; onClose: () => void }) {
  const flavors = useWatchList(FLAVORS);
  const own = useWatchList(IMAGES, namespace);
  const shared = useWatchList(IMAGES, PUBLIC_IMAGES);
  const subnets = useWatchList(SUBNETS, namespace);
  const volumes = useWatchList(VOLUMES, namespace);
  const [name, setName] = useState("");
  const [flavor, setFlavor] = useState<string | null>(null);
  const [image, setImage] = useState<string | null>(null);
  const [subnet, setSubnet] = useState<string | null>(null);
  const [vols, setVols] = useState<string[]>([]);
  const [estimate, setEstimate] = useState<string>();
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const images = useMemo(() => [...own.items, ...shared.items].map((i) => ({ value: i.metadata.name, label: `${i.metadata.name} (${i.spec?.architecture ?? "?"})` })), [own.items, shared.items]);
  const body = name && flavor && image ? instanceBody(namespace, { name, flavor, image, subnet: subnet ?? undefined, volumes: vols }) : undefined;
  const path = `${collectionPath(INSTANCES, namespace)}`;
  // the price, from billing's dry-run estimate, when billing runs (no estimate otherwise)
  useEffect(() => {
    setEstimate(undefined);
    if (!body) return;
    const t = setTimeout(() => {
      k8s<KubeObject>(`${path}?dryRun=All`, { method: "POST", body })
        .then((o) => setEstimate(o.metadata.annotations?.[ESTIMATE]))
        .catch(() => setEstimate(undefined));
    }, 400);
    return () => clearTimeout(t);
  }, [JSON.stringify(body)]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!body) return;
    setBusy(true);
    setError(undefined);
    try {
      await k8s(path, { method: "POST", body });
      onClose();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, (err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal opened onClose={onClose} title="Create instance" size="lg">
      <form onSubmit={submit} aria-label="Create instance">
        <Stack>
          <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required data-autofocus />
          <Select label="Flavor" data={flavors.items.map((f) => ({ value: f.metadata.name, label: `${f.metadata.name} (${f.spec?.vcpus} vCPU, ${f.spec?.memory})` }))} value={flavor} onChange={setFlavor} searchable required />
          <Select label="Image" data={images} value={image} onChange={setImage} searchable required />
          <Select label="Subnet" data={subnets.items.map((s) => s.metadata.name)} value={subnet} onChange={setSubnet} clearable placeholder="none" />
          <MultiSelect label="Data volumes" data={volumes.items.map((v) => v.metadata.name)} value={vols} onChange={setVols} clearable />
          <Text size="sm" aria-label="Price estimate">{estimate ? `Estimate: ${estimate}` : body ? "No estimate (billing not running, or the dry run was refused)" : ""}</Text>
          {error && (
            <Alert color="red" title={`Refused (${error.code})`} role="alert">
              {error.message}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" loading={busy} disabled={!body}>Create</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
