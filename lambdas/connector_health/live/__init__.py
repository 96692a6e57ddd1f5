"""Live exchanges: the connectors' real AssumeRoleWithWebIdentity calls, read from CloudTrail and explained.

- `events`: one CloudTrail record rebuilt into the call STS evaluated (never the token);
- `refusal`: which statement and condition of a trust policy refuse a caller (the shared evaluator);
- `diagnosis`: which STS stage refused a call, why, and the fix;
- `activity`: a connector's window summarised in bounded space (groups by role, error and cause);
- `runner`: the scan's live-exchange phase (EXCHANGE_LIVE_FAILURES and EXCHANGE_LIVE_SILENT read its result);
- `explain`: `connector-health explain`, the same diagnosis on demand.
"""
