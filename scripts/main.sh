#!/usr/bin/env bash
# The main job: the offline plan-and-gates check for every stack, then — where the Pulumi CLI
# is installed — `pulumi up` on the local stack with the policy pack.
#   local, staging: must pass (gates advisory).
#   production: shows the release gates; it is refused until the evidence exists (exit 0 here
#   when the refusal is the expected "no evidence yet", so the job shows the report).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts

npm run --silent check -- --stack local --report artifacts/local.md
npm run --silent check -- --stack staging --report artifacts/staging.md
if npm run --silent check -- --stack production --report artifacts/production.md; then
  echo "main: production gates pass — ready for: npm run promote -- --from staging --to production"
else
  echo "main: production is refused until the gates above hold (see artifacts/production.md)"
fi

if command -v pulumi >/dev/null 2>&1; then
  export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-}
  pulumi login --local >/dev/null
  pulumi stack select local 2>/dev/null || pulumi stack init local
  pulumi up --yes --stack local --policy-pack policies --policy-pack-config policies/config/local.json
else
  echo "main: Pulumi CLI not installed; skipped 'pulumi up --stack local' (install it the vendor's way to run it)"
fi
