# The two commands a newcomer needs, and a few more.
.PHONY: dev test openapi bench bench-scan bench-report bench-console bench-cli

## Run the whole backend locally: emulator + dev server on 127.0.0.1:$(PORT), demo data.
dev:
	@infra/scripts/dev.sh

## Run every test (template lint, unit, integration, runtime harness) from a fresh clone.
test:
	@infra/scripts/test.sh

## Regenerate openapi.json from the code.
openapi:
	@cargo run -q -p devstack -- openapi

## Cold-start benchmark of every function binary (release build).
bench:
	@infra/bench/cold_start.sh

## Scan benchmark: 17 regions, 50 ms per AWS call, against a boto3 scanner (release build).
bench-scan:
	@infra/bench/scan_bench.sh

## Report benchmark: POST /v1/reports of 100,000 findings, peak RSS of the release inventory.
bench-report:
	@infra/bench/report_bench.sh

## Console benchmark: first load of the overview in headless Chromium, 17-region estate (release build).
bench-console:
	@infra/bench/console_bench.sh

## CLI benchmark: `cloudkeep publish` of 1 GiB beside boto3 upload_file and `aws s3 cp` (release build).
bench-cli:
	@infra/bench/cli_bench.sh
