"""MEC 010-2 application packages as data: archives, AppDs, queries. Pure: bytes and dicts in.

- `archive`: a package archive (zip) read safely — entry count, uncompressed size, no absolute or
  `..` paths, no links — its checksum checked, its AppD file found (TOSCA.meta's
  Entry-Definitions, or the one top-level .yaml/.yml/.json file).
- `appd`: a parsed AppD (a plain dict: the caller parses JSON or YAML) validated against the
  MEC 010-2 AppD schema, every error naming the AppD field, and turned into an AppPackage spec
  (the AppD essentials and a pod template).
- `query`: the GS MEC 009 / NFV-SOL 013 attribute filter (`filter=(eq,appName,x);...`) and
  attribute selectors (`all_fields`, `fields`, `exclude_fields`, `exclude_default`).
- `names`: package ids and the label value that carries an appDId.
"""
