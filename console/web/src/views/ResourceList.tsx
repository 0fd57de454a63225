// Any namespaced kind as a live table with the apiserver's columns (its CRD's printer columns, as
// `kubectl get` shows them), and its details.
import { Alert, Anchor, Group, Loader, Table, Text, Title, VisuallyHidden } from "@mantine/core";
import { useWatchList, type KubeObject } from "../api.ts";
import type { Kind } from "../resources.ts";
import { go } from "../route.ts";
import { Details } from "./Details.tsx";

export function ResourceList({ kind, namespace, selected }: { kind: Kind; namespace: string; selected?: string }) {
  const list = useWatchList(kind, namespace, "", true);
  const columns = (list.columns ?? []).map((c, i) => ({ ...c, i })).filter((c) => !c.priority && c.name !== "Name");
  const chosen = useWatchList(selected ? kind : undefined, namespace, `fieldSelector=${encodeURIComponent(`metadata.name=${selected ?? ""}`)}`);
  return (
    <>
      <Group justify="space-between" mb="sm">
        <Title order={2}>{kind.title}</Title>
        {!list.loaded && <Loader size="sm" aria-label="Loading" />}
      </Group>
      <ErrorAlert error={list.error} />
      <ObjectTable
        label={kind.title}
        items={list.items}
        headers={columns.map((c) => c.name)}
        cells={(o) => columns.map((c) => String(o.cells?.[c.i] ?? ""))}
        onOpen={(o) => go({ area: "ns", namespace, view: kind.route, name: o.metadata.name })}
      />
      {list.loaded && !list.error && list.items.length === 0 && <Text c="dimmed">No {kind.title.toLowerCase()} in {namespace}.</Text>}
      <Details object={chosen.items[0]} kind={kind.kind} onClose={() => go({ area: "ns", namespace, view: kind.route })} />
    </>
  );
}

export function ErrorAlert({ error, title = "The apiserver refused" }: { error?: { code: number; message: string }; title?: string }) {
  if (!error) return null;
  return <Alert color="red" title={`${title} (${error.code})`} role="alert" mb="sm">{error.message}</Alert>;
}

export function ObjectTable({ label, items, headers, cells, onOpen, actions }: {
  label: string;
  items: KubeObject[];
  headers: string[];
  cells: (o: KubeObject) => React.ReactNode[];
  onOpen: (o: KubeObject) => void;
  actions?: (o: KubeObject) => React.ReactNode;
}) {
  return (
    <Table striped highlightOnHover aria-label={label}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Name</Table.Th>
          {headers.map((h) => <Table.Th key={h}>{h}</Table.Th>)}
          {actions && <Table.Th><VisuallyHidden>Actions</VisuallyHidden></Table.Th>}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {items.map((o) => (
          <Table.Tr key={o.metadata.name} data-name={o.metadata.name}>
            <Table.Td>
              <Anchor component="button" type="button" onClick={() => onOpen(o)}>{o.metadata.name}</Anchor>
            </Table.Td>
            {cells(o).map((c, i) => <Table.Td key={headers[i] ?? i}>{c}</Table.Td>)}
            {actions && <Table.Td>{actions(o)}</Table.Td>}
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
