"""Infrastructure as code read for `lint-trust`: CloudFormation templates (JSON or YAML), CDK cloud assemblies
(`cdk.out`) and Terraform plans (`terraform show -json`), turned into the roles whose trust policies are linted.

- `source`: loaders that keep the line every value came from (JSON and YAML with CloudFormation's short forms).
- `model`: what a reader hands to the linter (`RoleTrust`, `Provider`, unresolved values and placeholders).
- `cloudformation`, `cdk`, `terraform`: one reader per format.
- `discover`: which reader a path needs, decided by content (not by name).

Reading only: nothing here calls AWS, Terraform or Node.js.
"""
