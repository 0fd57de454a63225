import { describe, expect, it } from "vitest";
import { capacityReport, percent, quotaTree, table, type QuotaView, type TenantView } from "./render.ts";

const tenants: TenantView[] = [
  { name: "acme" }, { name: "research", parent: "acme" }, { name: "ml", parent: "research" }, { name: "sales", parent: "acme" },
  { name: "zeta" }, { name: "lost", parent: "gone" },
];
const quotas: QuotaView[] = [
  { name: "acme-all", tenant: "acme", hard: { cpu: "64", memory: "256Gi", instances: 100 }, used: { cpu: "6", memory: "12Gi", instances: "3", volumes: "0" }, reserved: { cpu: "2" } },
  { name: "research-az1", tenant: "research", zone: "az1", architecture: "amd64", hard: { cpu: 8 }, used: { cpu: "2", volumes: "1" }, reserved: {} },
];

describe("quotaTree", () => {
  it("draws departments under their parents to any depth, one row per dimension, with used / reserved / hard and use", () => {
    expect(quotaTree(tenants, quotas)).toBe([
      "TENANT       QUOTA         ZONE  ARCH   RESOURCE   USED  RESERVED  HARD   USE",
      "acme         acme-all      *     *      cpu        6     2         64     9%",
      "│                                       memory     12Gi  0         256Gi  5%",
      "│                                       instances  3     0         100    3%",
      "├─ research  research-az1  az1   amd64  cpu        2     0         8      25%",
      "│  │                                    volumes    1     0         -",
      "│  └─ ml     -",
      "└─ sales     -",
      "lost         -",
      "zeta         -",
      "",
    ].join("\n"));
  });

  it("shows one tenant's subtree, or nothing for an unknown tenant", () => {
    const sub = quotaTree(tenants, quotas, "research");
    expect(sub?.split("\n").map((l) => l.split(/\s{2,}/)[0])).toEqual(["TENANT", "research", "│", "└─ ml", ""]);
    expect(quotaTree(tenants, quotas, "nobody")).toBeUndefined();
  });
});

describe("percent", () => {
  it("compares quantities in their units and leaves unlimited or unparsable ones blank", () => {
    expect(percent("cpu", "500m", "2")).toBe("25%");
    expect(percent("memory", "512Mi", "2Gi")).toBe("25%");
    expect(percent("instances", "0", 0)).toBe("0%");
    expect(percent("cpu", "1", undefined)).toBe("");
    expect(percent("memory", "lots", "1Gi")).toBe("");
  });
});

describe("capacityReport", () => {
  it("prints cells' node counts, capacity per architecture and their pools as aligned tables", () => {
    const out = capacityReport(
      [
        {
          name: "cell-b", region: "r1", zone: "az2", strategy: "Binpack", pools: 1, nodes: { total: 2, ready: 1, notReady: 1, cordoned: 0 },
          architectures: { arm64: { nodes: 2, capacity: { cpu: "64", memory: "256Gi" }, allocatable: { cpu: "128", memory: "256Gi" }, allocated: { cpu: "32", memory: "64Gi" } } },
        },
        { name: "cell-a", region: "r1", zone: "az1", strategy: "Spread" },
      ],
      [
        { name: "b-arm", cell: "cell-b", architecture: "arm64", cpuVendor: "kunpeng", desired: 2, current: 2, ready: 1, cpu: "32", memory: "128Gi", overcommit: { cpu: 2, memory: 1 } },
        { name: "other", cell: "elsewhere", architecture: "amd64" },
      ],
    );
    expect(out).toBe([
      "CELL    REGION  ZONE  STRATEGY  POOLS  NODES  READY  NOT-READY  CORDONED",
      "cell-a  r1      az1   Spread    0      0      0      0          0",
      "cell-b  r1      az2   Binpack   1      2      1      1          0",
      "",
      "CELL    ARCH   NODES  CPU-ALLOCATED  CPU-ALLOCATABLE  CPU-CAPACITY  CPU-USE  MEM-ALLOCATED  MEM-ALLOCATABLE  MEM-CAPACITY  MEM-USE",
      "cell-b  arm64  2      32             128              64            25%      64Gi           256Gi            256Gi         25%",
      "",
      "NODEPOOL  CELL    ARCH   VENDOR   DESIRED  CURRENT  READY  CPU/HOST  MEM/HOST  OVERCOMMIT(CPU/MEM)",
      "b-arm     cell-b  arm64  kunpeng  2        2        1      32        128Gi     2/1",
      "",
    ].join("\n"));
  });
});

describe("table", () => {
  it("pads every column but the last and trims trailing blanks", () => {
    expect(table(["A", "BB"], [["xyz", ""], ["1", "2"]])).toBe("A    BB\nxyz\n1    2\n");
  });
});
