// The operator's views: regions → cells → node pools with capacity against allocated per
// architecture, hosts that are not Ready, and the scheduler's pending pods with why they wait.
import { Badge, Card, Group, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { age, condition, useWatchList, type KubeObject } from "../api.ts";
import { parseQuantity } from "../quantity.ts";
import { CELLS, EVENTS, NODEPOOLS, NODES, PODS } from "../resources.ts";
import { ErrorAlert } from "./ResourceList.tsx";

const ARCHS = ["amd64", "arm64"] as const;
const GiB = 2 ** 30;

/** One chart row per architecture: cpu (cores), memory (GiB) and pods, capacity vs allocatable vs allocated. */
export function capacityRows(cell: KubeObject, resource: "cpu" | "memory" | "pods"): { arch: string; capacity: number; allocatable: number; allocated: number }[] {
  const scale = resource === "memory" ? GiB : 1;
  return ARCHS.flatMap((arch) => {
    const a = cell.status?.architectures?.[arch];
    if (!a) return [];
    const n = (q: unknown) => +((parseQuantity(q as string) ?? 0) / scale).toFixed(1);
    return [{ arch, capacity: n(a.capacity?.[resource]), allocatable: n(a.allocatable?.[resource]), allocated: n(a.allocated?.[resource]) }];
  });
}

export function Capacity() {
  const cells = useWatchList(CELLS);
  const pools = useWatchList(NODEPOOLS);
  const regions = [...new Set(cells.items.map((c) => String(c.spec?.region ?? "")))].sort();
  return (
    <Stack>
      <Title order={2}>Capacity</Title>
      <ErrorAlert error={cells.error} />
      {regions.map((region) => (
        <Stack key={region}>
          <Title order={3}>Region {region}</Title>
          {cells.items.filter((c) => c.spec?.region === region).map((cell) => (
            <Card withBorder key={cell.metadata.name} aria-label={`Cell ${cell.metadata.name}`}>
              <Group justify="space-between" mb="xs">
                <Text fw={600}>Cell {cell.metadata.name} · zone {String(cell.spec?.zone ?? "")}</Text>
                <Group gap={4}>
                  <Badge color="green">{cell.status?.nodes?.ready ?? 0} ready</Badge>
                  <Badge color={(cell.status?.nodes?.notReady ?? 0) > 0 ? "red" : "gray"}>{cell.status?.nodes?.notReady ?? 0} not ready</Badge>
                  <Badge color="gray">{cell.status?.nodes?.cordoned ?? 0} cordoned</Badge>
                </Group>
              </Group>
              <SimpleGrid cols={{ base: 1, md: 3 }}>
                {(["cpu", "memory", "pods"] as const).map((r) => (
                  <div key={r} role="img" aria-label={`${r} capacity of cell ${cell.metadata.name} by architecture`}>
                    <Text size="sm" ta="center">{r === "cpu" ? "CPU (cores)" : r === "memory" ? "Memory (GiB)" : "Pods"}</Text>
                    <ResponsiveContainer width="100%" height={180}>
                      <BarChart data={capacityRows(cell, r)}>
                        <CartesianGrid strokeDasharray="3 3" />
                        <XAxis dataKey="arch" />
                        <YAxis />
                        <Tooltip />
                        <Legend />
                        <Bar dataKey="capacity" fill="#adb5bd" isAnimationActive={false} />
                        <Bar dataKey="allocatable" fill="#74c0fc" isAnimationActive={false} />
                        <Bar dataKey="allocated" fill="#1c7ed6" isAnimationActive={false} />
                      </BarChart>
                    </ResponsiveContainer>
                  </div>
                ))}
              </SimpleGrid>
              <Table mt="sm" aria-label={`Node pools of cell ${cell.metadata.name}`}>
                <Table.Thead><Table.Tr><Table.Th>Pool</Table.Th><Table.Th>Arch</Table.Th><Table.Th>CPU vendor</Table.Th><Table.Th>Nodes</Table.Th><Table.Th>Ready</Table.Th></Table.Tr></Table.Thead>
                <Table.Tbody>
                  {pools.items.filter((p) => p.spec?.cell === cell.metadata.name).map((p) => (
                    <Table.Tr key={p.metadata.name}>
                      <Table.Td>{p.metadata.name}</Table.Td>
                      <Table.Td>{String(p.spec?.architecture ?? "")}</Table.Td>
                      <Table.Td>{String(p.spec?.cpuVendor ?? "")}</Table.Td>
                      <Table.Td>{String(p.spec?.nodes ?? "")}</Table.Td>
                      <Table.Td>{String(p.status?.readyNodes ?? p.status?.ready ?? condition(p).status ?? "")}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Card>
          ))}
        </Stack>
      ))}
      {cells.loaded && !cells.error && cells.items.length === 0 && <Text c="dimmed">No cells.</Text>}
    </Stack>
  );
}

export function Hosts() {
  const nodes = useWatchList(NODES);
  const notReady = nodes.items.filter((n) => condition(n, "Ready").status !== "True");
  return (
    <Stack>
      <Title order={2}>Hosts</Title>
      <Text>{nodes.items.length} hosts, <b>{notReady.length} not Ready</b>.</Text>
      <ErrorAlert error={nodes.error} />
      <Table aria-label="Hosts not Ready">
        <Table.Thead><Table.Tr><Table.Th>Host</Table.Th><Table.Th>Cell</Table.Th><Table.Th>Arch</Table.Th><Table.Th>Ready</Table.Th><Table.Th>Reason</Table.Th><Table.Th>Since</Table.Th></Table.Tr></Table.Thead>
        <Table.Tbody>
          {notReady.map((n) => {
            const c = condition(n, "Ready") as { status?: string; reason?: string; lastTransitionTime?: string };
            return (
              <Table.Tr key={n.metadata.name}>
                <Table.Td>{n.metadata.name}</Table.Td>
                <Table.Td>{n.metadata.labels?.["cellcloud.io/cell"] ?? ""}</Table.Td>
                <Table.Td>{n.metadata.labels?.["kubernetes.io/arch"] ?? ""}</Table.Td>
                <Table.Td><Badge color="red">{c.status ?? "Unknown"}</Badge></Table.Td>
                <Table.Td>{c.reason}</Table.Td>
                <Table.Td>{age(c.lastTransitionTime)}</Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}

export function Scheduler() {
  const pending = useWatchList(PODS, undefined, `fieldSelector=${encodeURIComponent("status.phase=Pending")}`);
  const failures = useWatchList(EVENTS, undefined, `fieldSelector=${encodeURIComponent("reason=FailedScheduling")}`);
  const reasonOf = (p: KubeObject): string => {
    const ev = failures.items.filter((e) => (e.involvedObject as { uid?: string } | undefined)?.uid === p.metadata.uid);
    return String(ev.at(-1)?.message ?? condition(p, "PodScheduled").message ?? "");
  };
  const unscheduled = pending.items.filter((p) => !p.spec?.nodeName);
  return (
    <Stack>
      <Title order={2}>Scheduler</Title>
      <Text><b>{unscheduled.length}</b> pods waiting for a host.</Text>
      <ErrorAlert error={pending.error} />
      <Table aria-label="Pending pods">
        <Table.Thead><Table.Tr><Table.Th>Pod</Table.Th><Table.Th>Scheduler</Table.Th><Table.Th>Waiting</Table.Th><Table.Th>Why</Table.Th></Table.Tr></Table.Thead>
        <Table.Tbody>
          {unscheduled.map((p) => (
            <Table.Tr key={`${p.metadata.namespace}/${p.metadata.name}`}>
              <Table.Td>{p.metadata.namespace}/{p.metadata.name}</Table.Td>
              <Table.Td>{String(p.spec?.schedulerName ?? "")}</Table.Td>
              <Table.Td>{age(p.metadata.creationTimestamp)}</Table.Td>
              <Table.Td>{reasonOf(p)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
