-- The billing ledger. Every key is deterministic, so recording or rating again after a crash
-- writes nothing new; money is integer minor units; time is UTC.

-- Lifecycle events: from `at` on, the resource's metered state is `meters` (empty: nothing metered).
CREATE TABLE usage_events (
  id           text PRIMARY KEY,               -- <resource uid>/<generation>/<transition>
  seq          bigserial NOT NULL UNIQUE,      -- the order events were recorded in
  resource_uid text NOT NULL,
  tenant       text NOT NULL,
  namespace    text NOT NULL,
  kind         text NOT NULL,
  name         text NOT NULL,
  at           timestamptz NOT NULL,
  meters       jsonb NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_resource ON usage_events (resource_uid, at, seq);
CREATE INDEX usage_events_at ON usage_events (at);

-- The rating watermark: every hour before rated_until is rated. Advanced in the transaction that
-- writes the hour's rows, so a crash leaves either both or neither.
CREATE TABLE rating_state (
  id          int PRIMARY KEY CHECK (id = 1),
  rated_until timestamptz
);
INSERT INTO rating_state (id, rated_until) VALUES (1, NULL);

-- Events recorded for an hour already rated: the next rating adjusts those hours.
CREATE TABLE late_events (
  event_id text PRIMARY KEY REFERENCES usage_events (id)
);

-- One row per (resource, meter, hour, rating hour): milli-units × seconds and the price then.
CREATE TABLE usage_rows (
  key           text PRIMARY KEY,
  tenant        text NOT NULL,
  namespace     text NOT NULL,
  kind          text NOT NULL,
  name          text NOT NULL,
  resource_uid  text NOT NULL,
  product       text NOT NULL,
  meter         text NOT NULL,
  zone          text NOT NULL,
  arch          text NOT NULL,
  variant       text NOT NULL,
  hour          timestamptz NOT NULL,
  rated_in      timestamptz NOT NULL,
  milli_seconds bigint NOT NULL,
  unit_price    bigint NOT NULL,
  discount_bp   int NOT NULL,
  price_list    text NOT NULL
);
CREATE INDEX usage_rows_tenant ON usage_rows (tenant, rated_in);
CREATE INDEX usage_rows_resource ON usage_rows (resource_uid, hour);

-- Subscription periods, each charged once (key: <subscription uid>/<period>).
CREATE TABLE subscription_periods (
  key              text PRIMARY KEY,
  subscription_uid text NOT NULL,
  period           int NOT NULL,
  tenant           text NOT NULL,
  namespace        text NOT NULL,
  name             text NOT NULL,
  resource_uid     text NOT NULL,
  resource_kind    text NOT NULL,
  resource_name    text NOT NULL,
  starts           timestamptz NOT NULL,
  ends             timestamptz NOT NULL,
  amount           bigint NOT NULL,
  price_list       text NOT NULL,
  charged_at       timestamptz NOT NULL,
  refunded_at      timestamptz,
  UNIQUE (subscription_uid, period)
);
CREATE INDEX subscription_periods_resource ON subscription_periods (resource_uid, starts);
CREATE INDEX subscription_periods_tenant ON subscription_periods (tenant, charged_at);

-- What was deducted from a tenant's account for a finalized bill (once per tenant and month).
CREATE TABLE deductions (
  tenant      text NOT NULL,
  month       text NOT NULL,
  amount      bigint NOT NULL,
  checksum    text NOT NULL,
  deducted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, month)
);
