-- The billing ledger. Every key is deterministic, so recording or rating again after a crash
-- writes nothing new; money is integer minor units; time is UTC. Usage rows are the bulk (one per
-- resource, meter and hour: ~90M a month at 30,000 instances), so they hold small ids of the
-- resource and meter rather than their names.

-- Every metered object, once: its uid and where it belongs.
CREATE TABLE resources (
  id        serial PRIMARY KEY,
  uid       text NOT NULL UNIQUE,
  tenant    text NOT NULL,
  namespace text NOT NULL,
  kind      text NOT NULL,
  name      text NOT NULL
);
CREATE INDEX resources_tenant ON resources (tenant);

-- Every meter with its dimensions, once.
CREATE TABLE meters (
  id      smallserial PRIMARY KEY,
  product text NOT NULL,
  meter   text NOT NULL,
  zone    text NOT NULL,
  arch    text NOT NULL,
  variant text NOT NULL,
  UNIQUE (product, meter, zone, arch, variant)
);

-- Lifecycle events: from `at` on, the resource's metered state is `meters` (empty: nothing metered).
CREATE TABLE usage_events (
  id          text PRIMARY KEY,               -- <resource uid>/<generation>/<transition>
  seq         bigserial NOT NULL UNIQUE,      -- the order events were recorded in
  resource_id int NOT NULL REFERENCES resources (id),
  at          timestamptz NOT NULL,
  meters      jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_resource ON usage_events (resource_id, at, seq);
CREATE INDEX usage_events_at ON usage_events (at);

-- The rating watermark: every hour before rated_until is rated. Advanced in the transaction that
-- writes the hour's rows, so a crash leaves either both or neither.
CREATE TABLE rating_state (
  id          int PRIMARY KEY CHECK (id = 1),
  rated_until timestamptz
);
INSERT INTO rating_state (id, rated_until) VALUES (1, NULL);

-- What each rated hour wrote (an audit of the watermark's steps).
CREATE TABLE rated_hours (
  hour        timestamptz PRIMARY KEY,
  rows        int NOT NULL,
  adjustments int NOT NULL,
  price_lists text NOT NULL,
  rated_at    timestamptz NOT NULL DEFAULT now()
);

-- Events recorded for an hour already rated: the next rating adjusts those hours.
CREATE TABLE late_events (
  event_id text PRIMARY KEY REFERENCES usage_events (id)
);

-- One row per (resource, meter, hour, rating hour): milli-units × seconds, and the price then. The
-- key leads with the resource and the rating hour, so a tenant's bill for a month reads only that
-- month's rows of its resources.
CREATE TABLE usage_rows (
  resource_id   int NOT NULL,
  meter_id      smallint NOT NULL,
  hour          timestamptz NOT NULL,
  rated_in      timestamptz NOT NULL,
  milli_seconds bigint NOT NULL,
  unit_price    bigint NOT NULL,
  discount_bp   smallint NOT NULL,
  PRIMARY KEY (resource_id, rated_in, meter_id, hour)
);

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
