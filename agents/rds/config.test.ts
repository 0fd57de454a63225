import { describe, expect, it } from "vitest";
import type { DesiredState } from "../../operators/api/database.ts";
import { lsnBytes } from "../../operators/api/database.ts";
import { connValue, parseSyncStandbyNames, pgTime, quote, renderConf, renderHba, slotName, syncStandbyNames } from "./config.ts";

const desired = (o: Partial<DesiredState> = {}): DesiredState => ({ epoch: 1, role: "primary", members: [], databaseName: "app", username: "app", isolationSeconds: 5, ...o });

describe("the instance manager's PostgreSQL configuration", () => {
  it("names synchronous standbys per edition", () => {
    expect(syncStandbyNames({ method: "FIRST", num: 1, names: ["db-2"] })).toBe('FIRST 1 ("db-2")');
    expect(syncStandbyNames({ method: "ANY", num: 1, names: ["db-2", "db-3"] })).toBe('ANY 1 ("db-2", "db-3")');
    expect(syncStandbyNames({ method: "FIRST", num: 0, names: [] })).toBe("");
    expect(syncStandbyNames(undefined)).toBe("");
    // and reads back what PostgreSQL has in effect
    for (const names of [["db-2"], ["db-2", "db-3"]]) expect(parseSyncStandbyNames(syncStandbyNames({ method: "ANY", num: 1, names }))).toEqual(names);
    expect(parseSyncStandbyNames("")).toEqual([]);
    expect(parseSyncStandbyNames("2 (a, \"b c\")")).toEqual(["a", "b c"]);
    expect(parseSyncStandbyNames("a, b")).toEqual(["a", "b"]);
    expect(parseSyncStandbyNames("*")).toEqual([]);
  });

  it("lets the application in only from the allowlist, always with a password", () => {
    const hba = renderHba(["10.0.0.0/8"]);
    expect(hba).toContain("host all all 10.0.0.0/8 scram-sha-256");
    expect(hba).not.toContain("host all all 0.0.0.0/0");
    expect(renderHba(undefined)).toContain("host all all 0.0.0.0/0 scram-sha-256");
    expect(hba).not.toMatch(/\btrust\b.*host|host.*\btrust\b/);
  });

  it("archives WAL without overwriting a different file, and sets a standby's and a restore's settings", () => {
    const base = { address: "127.1.0.2", port: 5432, socketDir: "/tmp/s", walArchive: "/b/wal", member: "db-2" };
    const conf = renderConf({ ...base, desired: desired({ role: "standby" }), primaryConninfo: "host=127.1.0.1", recoveryTarget: { time: "2026-12-01T19:50:50.265Z" } });
    expect(conf).toContain(`archive_command = 'f=/b/wal/%f; if [ -f "$f" ]; then cmp -s %p "$f"; else cp %p "$f.tmp" && mv "$f.tmp" "$f"; fi'`);
    expect(conf).toContain("synchronous_standby_names = ''");
    expect(conf).toContain("primary_slot_name = 'db_2'");
    expect(conf).toContain("recovery_target_time = '2026-12-01 19:50:50.265+00'");
    expect(conf).toContain("recovery_target_inclusive = off");
    expect(renderConf({ ...base, desired: desired(), recoveryTarget: {} })).toContain("recovery_target = 'immediate'");
    expect(renderConf({ ...base, desired: desired({ parameters: { maxConnections: 300, bogus: 1 } }) })).toContain("max_connections = 300");
    expect(renderConf({ ...base, desired: desired({ parameters: { bogus: 1 } }) })).not.toContain("bogus");
  });

  it("quotes, names slots and reads LSNs", () => {
    expect(quote("it's")).toBe("'it''s'");
    expect(slotName("db-2")).toBe("db_2");
    expect(lsnBytes("1/0")).toBe(2n ** 32n);
    expect(lsnBytes("bogus")).toBeUndefined();
    expect(connValue("127.0.0.1")).toBe("127.0.0.1");
    expect(connValue("a b'c")).toBe("'a b\\'c'");
    expect(pgTime("2026-12-01T19:50:50Z")).toBe("2026-12-01 19:50:50.000+00");
  });
});
