// Quota usage for the tenant tree: used, reserved and hard per dimension, per zone and architecture.
// A tenant's users read the AppliedQuotas in their namespace (the manager's read-only projection of
// each Quota that concerns them); an operator who may list Quotas sees every Quota.
import { Badge, Card, Group, Progress, SimpleGrid, Stack, Text, Title, Tooltip } from "@mantine/core";
import { useEffect, useState } from "react";
import { can, useWatchList, type KubeObject } from "../api.ts";
import { formatQuantity, parseQuantity, usagePercent } from "../quantity.ts";
import { APPLIED_QUOTAS, QUOTAS } from "../resources.ts";
import { ErrorAlert } from "./ResourceList.tsx";

export interface QuotaCard {
  name: string;
  tenant: string;
  relation?: string;
  /** The tenant's ancestors, root first (to draw the tree). */
  path: string[];
  zone?: string;
  architecture?: string;
  hard: Record<string, string>;
  used: Record<string, string>;
  reserved: Record<string, string>;
}

/** An AppliedQuota (or a Quota, for operators) as a card. */
export function quotaCard(o: KubeObject): QuotaCard {
  const spec = o.spec ?? {};
  const status = o.status ?? {};
  return {
    name: spec.quota ?? o.metadata.name,
    tenant: spec.tenant ?? "",
    relation: spec.relation,
    // an AppliedQuota's path is its tenant's chain from the root ("acme/research/ml"); a Quota has none
    path: typeof spec.path === "string" ? spec.path.split("/").filter((t: string) => t && t !== spec.tenant) : [],
    zone: spec.zone,
    architecture: spec.architecture,
    hard: spec.hard ?? {},
    used: status.used ?? {},
    reserved: status.reserved ?? {},
  };
}

export function Quota({ namespace }: { namespace: string }) {
  const [operator, setOperator] = useState<boolean>();
  useEffect(() => { can("list", QUOTAS).then(setOperator, () => setOperator(false)); }, []);
  const applied = useWatchList(operator === false ? APPLIED_QUOTAS : undefined, namespace);
  const all = useWatchList(operator ? QUOTAS : undefined);
  const list = operator ? all : applied;
  const cards = list.items.map(quotaCard).sort((a, b) => [...a.path, a.tenant].join("/").localeCompare([...b.path, b.tenant].join("/")) || a.name.localeCompare(b.name));
  return (
    <Stack>
      <Title order={2}>Quota</Title>
      <Text size="sm" c="dimmed">{operator ? "Every Quota (you may list them)." : `Quotas that limit the tenant of ${namespace}, its parents and its departments.`}</Text>
      <ErrorAlert error={list.error} />
      {list.loaded && cards.length === 0 && !list.error && <Text c="dimmed">No quota applies.</Text>}
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        {cards.map((c) => <QuotaBars key={`${c.tenant}/${c.name}`} card={c} />)}
      </SimpleGrid>
    </Stack>
  );
}

function QuotaBars({ card }: { card: QuotaCard }) {
  const dims = Object.keys(card.hard);
  return (
    <Card withBorder aria-label={`Quota ${card.name}`}>
      <Group justify="space-between" mb="xs">
        <Text fw={600}>{[...card.path, card.tenant].join(" › ")}</Text>
        <Group gap={4}>
          {card.relation && <Badge variant="light">{card.relation}</Badge>}
          <Badge variant="outline">{card.zone ?? "all zones"}</Badge>
          <Badge variant="outline">{card.architecture ?? "all arch"}</Badge>
        </Group>
      </Group>
      <Text size="xs" c="dimmed" mb="xs">Quota {card.name}</Text>
      <Stack gap={6}>
        {dims.map((d) => {
          const hard = parseQuantity(card.hard[d]) ?? 0;
          const used = parseQuantity(card.used[d]) ?? 0;
          const reserved = parseQuantity(card.reserved[d]) ?? 0;
          const pct = usagePercent(used, reserved, hard);
          const label = `${d}: ${formatQuantity(d, used)} used, ${formatQuantity(d, reserved)} reserved of ${formatQuantity(d, hard)}`;
          return (
            <div key={d}>
              <Group justify="space-between"><Text size="sm">{d}</Text><Text size="sm">{formatQuantity(d, used)} + {formatQuantity(d, reserved)} / {formatQuantity(d, hard)}</Text></Group>
              <Tooltip label={label}>
                <Progress.Root size="lg" aria-label={label}>
                  <Progress.Section value={pct.used} color={pct.used + pct.reserved > 90 ? "red" : "blue"} />
                  <Progress.Section value={pct.reserved} color="cyan" />
                </Progress.Root>
              </Tooltip>
            </div>
          );
        })}
      </Stack>
    </Card>
  );
}
