// An object's details: its conditions, its Events (live) and its YAML.
import { Badge, Code, Drawer, ScrollArea, Stack, Table, Tabs, Text } from "@mantine/core";
import { stringify } from "yaml";
import { age, useWatchList, type KubeObject } from "../api.ts";
import { EVENTS } from "../resources.ts";

export function conditionColor(status?: string): string {
  return status === "True" ? "green" : status === "False" ? "red" : "gray";
}

export function Details({ object, kind, onClose }: { object?: KubeObject; kind: string; onClose: () => void }) {
  return (
    <Drawer opened={!!object} onClose={onClose} position="right" size="xl" title={object ? `${kind} ${object.metadata.namespace ?? ""}/${object.metadata.name}` : ""}>
      {object && <DetailsBody object={object} />}
    </Drawer>
  );
}

function DetailsBody({ object }: { object: KubeObject }) {
  const uid = object.metadata.uid;
  const events = useWatchList(uid ? EVENTS : undefined, object.metadata.namespace, `fieldSelector=${encodeURIComponent(`involvedObject.uid=${uid}`)}`);
  const conditions = (object.status?.conditions ?? []) as { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
  const sorted = [...events.items].sort((a, b) => String(b.lastTimestamp ?? b.eventTime ?? "").localeCompare(String(a.lastTimestamp ?? a.eventTime ?? "")));
  return (
    <Tabs defaultValue="overview">
      <Tabs.List>
        <Tabs.Tab value="overview">Overview</Tabs.Tab>
        <Tabs.Tab value="events">Events ({events.items.length})</Tabs.Tab>
        <Tabs.Tab value="yaml">YAML</Tabs.Tab>
      </Tabs.List>
      <Tabs.Panel value="overview" pt="sm">
        <Stack>
          <Text fw={600}>Conditions</Text>
          <Table aria-label="Conditions">
            <Table.Thead><Table.Tr><Table.Th>Type</Table.Th><Table.Th>Status</Table.Th><Table.Th>Reason</Table.Th><Table.Th>Message</Table.Th><Table.Th>Since</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {conditions.map((c) => (
                <Table.Tr key={c.type}>
                  <Table.Td>{c.type}</Table.Td>
                  <Table.Td><Badge color={conditionColor(c.status)}>{c.status}</Badge></Table.Td>
                  <Table.Td>{c.reason}</Table.Td>
                  <Table.Td>{c.message}</Table.Td>
                  <Table.Td>{age(c.lastTransitionTime)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      </Tabs.Panel>
      <Tabs.Panel value="events" pt="sm">
        {events.error && <Text c="red" role="alert">{events.error.message}</Text>}
        <Table aria-label="Events">
          <Table.Thead><Table.Tr><Table.Th>Type</Table.Th><Table.Th>Reason</Table.Th><Table.Th>Message</Table.Th><Table.Th>Count</Table.Th><Table.Th>Last</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {sorted.map((e) => (
              <Table.Tr key={e.metadata.name}>
                <Table.Td><Badge color={e.type === "Warning" ? "orange" : "blue"}>{String(e.type ?? "")}</Badge></Table.Td>
                <Table.Td>{String(e.reason ?? "")}</Table.Td>
                <Table.Td>{String(e.message ?? "")}</Table.Td>
                <Table.Td>{String(e.count ?? (e.series as { count?: number } | undefined)?.count ?? 1)}</Table.Td>
                <Table.Td>{age(String(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? ""))}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Tabs.Panel>
      <Tabs.Panel value="yaml" pt="sm">
        <ScrollArea h="75vh"><Code block>{stringify({ ...object, metadata: { ...object.metadata, managedFields: undefined } })}</Code></ScrollArea>
      </Tabs.Panel>
    </Tabs>
  );
}
