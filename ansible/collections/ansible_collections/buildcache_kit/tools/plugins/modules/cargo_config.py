#!/usr/bin/python
"""Set or remove one key of a cargo config table inside a marked block."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cargo_config
short_description: Manage one key of a cargo config.toml table in a marked block
description:
  - Adds, updates or removes C(key = "value") in table C(table) of a cargo
    configuration file, inside a block delimited by marker comments.
  - Content outside the block is kept byte for byte. When the file already
    opens the table (C([build])), the block is placed inside that table;
    otherwise the block carries the table header itself.
  - Keys set by several tasks for the same table share one block.
  - Fails, writing nothing, when the user already sets the key outside the
    block or when the result would not be valid TOML.
options:
  path:
    description: The cargo configuration file.
    type: path
    required: true
  table:
    description: The table, such as C(build). Only simple (undotted) table names.
    type: str
    required: true
  key:
    description: The key inside the table.
    type: str
    required: true
  value:
    description: The string value. Required when I(state=present).
    type: str
  state:
    description: Whether the key should be set by the block.
    type: str
    choices: [present, absent]
    default: present
  marker:
    description: Text of the marker comments around the block.
    type: str
    default: "buildcache kit"
extends_documentation_fragment: [files]
author: buildcache kit
"""

EXAMPLES = r"""
- name: Ensure cargo runs rustc through buildcache.
  buildcache_kit.tools.cargo_config:
    path: "~/.cargo/config.toml"
    table: build
    key: rustc-wrapper
    value: /usr/local/bin/buildcache
"""

RETURN = r"""
block:
  description: The managed block as written (empty when removed).
  returned: always
  type: str
"""

import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# A line that opens a table or an array of tables: `[name]`, `[[name]]`,
# `[ "name" ]`, with an optional trailing comment.
TABLE_HEADER = re.compile(r"^\s*\[(\[)?\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$")


def table_name(header_text):
    """'"build"' -> 'build'; dotted names are returned as written."""
    name = header_text.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1]
    return name


def begin_marker(marker, table):
    return "# BEGIN %s [%s] (managed: edits inside this block are overwritten)" % (marker, table)


def end_marker(marker, table):
    return "# END %s [%s]" % (marker, table)


def toml_string(value):
    # json.dumps escapes exactly like a TOML basic string for the characters
    # a path or command can contain; non-ASCII stays readable.
    return json.dumps(value, ensure_ascii=False)


def split_block(lines, marker, table):
    """Return (lines without the block, index where it was or None, its key lines)."""
    begin, end = begin_marker(marker, table), end_marker(marker, table)
    start = stop = None
    for index, line in enumerate(lines):
        text = line.rstrip("\r\n")
        if start is None and text == begin:
            start = index
        elif start is not None and text == end:
            stop = index
            break
    if start is None or stop is None:
        return lines, None, {}
    keys = {}
    for line in lines[start + 1:stop]:
        text = line.strip()
        if not text or text.startswith("#") or TABLE_HEADER.match(text):
            continue
        name, sep, value = text.partition("=")
        if sep:
            keys[name.strip()] = value.strip()
    return lines[:start] + lines[stop + 1:], start, keys


def find_table(lines, table):
    """(header index or None, index of the first line after the table)."""
    header = None
    for index, line in enumerate(lines):
        match = TABLE_HEADER.match(line.rstrip("\r\n"))
        if not match:
            continue
        if header is not None:
            return header, index
        if not match.group(1) and table_name(match.group(2)) == table:
            header = index
    return header, len(lines)


def user_sets_key(lines, table, key):
    """Line number (1-based) where the user's own text sets table.key, or None."""
    current = ""
    assignment = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=")
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        match = TABLE_HEADER.match(text)
        if match:
            current = table_name(match.group(2))
            continue
        found = assignment.match(text)
        if not found:
            continue
        name = found.group(1).replace('"', "").replace("'", "")
        full = "%s.%s" % (current, name) if current else name
        if full == "%s.%s" % (table, key):
            return number
    return None


def render(text, table, key, value, state, marker):
    """The new file text, or raise ValueError with a message for the user."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    rest, old_index, keys = split_block(lines, marker, table)

    if state == "present":
        conflict = user_sets_key(rest, table, key)
        if conflict is not None:
            raise ValueError(
                "line %d already sets %s.%s outside the managed block; remove that line "
                "(or stop managing the key) so the file stays valid TOML" % (conflict, table, key)
            )
        keys[key] = toml_string(value)
    else:
        keys.pop(key, None)

    if not keys:
        return "".join(rest)

    header_index, table_end = find_table(rest, table)
    body = ["%s = %s%s" % (name, keys[name], newline) for name in sorted(keys)]
    if header_index is not None:
        block_lines = body
        # Keep the block where it was if that is still inside the user's table.
        if old_index is not None and header_index < old_index <= table_end:
            position = old_index
        else:
            position = header_index + 1
    else:
        block_lines = ["[%s]%s" % (table, newline)] + body
        position = old_index if old_index is not None else len(rest)
    block = (
        [begin_marker(marker, table) + newline]
        + block_lines
        + [end_marker(marker, table) + newline]
    )
    before, after = rest[:position], rest[position:]
    if before and not before[-1].endswith(("\n", "\r")):
        # The user's last line had no newline; the block must start on its own line.
        before = before[:-1] + [before[-1] + newline]
    return "".join(before + block + after)


def check_toml(text, table, key, value, state):
    """Parse the result; returns a warning when no TOML parser is available."""
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            return "no TOML parser (Python < 3.11 without tomli): result not validated"
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError("the result would not be valid TOML (%s)" % error)
    got = parsed.get(table, {}).get(key) if isinstance(parsed.get(table), dict) else None
    if state == "present" and got != value:
        raise ValueError(
            "after the edit %s.%s reads %r instead of %r; the file defines [%s] in a "
            "way this module cannot edit (dotted keys or an inline table)"
            % (table, key, got, value, table)
        )
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            table=dict(type="str", required=True),
            key=dict(type="str", required=True, no_log=False),
            value=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            marker=dict(type="str", default="buildcache kit"),
        ),
        required_if=[("state", "present", ["value"])],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    path, table, key = params["path"], params["table"], params["key"]
    for name in ("table", "key"):
        if not BARE_KEY.match(params[name]):
            module.fail_json(msg="%s=%r must be a bare TOML key (letters, digits, _ and -)"
                             % (name, params[name]))

    exists = os.path.exists(path)
    if exists:
        with open(path, "rb") as handle:
            raw = handle.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            module.fail_json(msg="%s is not UTF-8, so it is not a valid cargo config" % path)
    else:
        text = ""

    try:
        new_text = render(text, table, key, params["value"], params["state"], params["marker"])
        warning = check_toml(new_text, table, key, params["value"], params["state"])
    except ValueError as error:
        module.fail_json(msg="%s: %s" % (path, error))
    if warning:
        module.warn(warning)

    changed = new_text != text and (exists or new_text != "")
    _, _, keys = split_block(new_text.splitlines(keepends=True), params["marker"], table)
    block = "".join("%s = %s\n" % item for item in sorted(keys.items()))
    result = dict(changed=changed, path=path, block=block)
    if module._diff:
        result["diff"] = dict(before=text, after=new_text, before_header=path, after_header=path)

    if changed and not module.check_mode:
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            module.fail_json(msg="%s: directory %s does not exist" % (path, directory))
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".cargo-config.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_text.encode("utf-8"))
        if exists:
            # Keep the user's mode and owner on the replaced file.
            stat = os.stat(path)
            os.chmod(temp, stat.st_mode & 0o7777)
            try:
                os.chown(temp, stat.st_uid, stat.st_gid)
            except PermissionError:
                pass
        else:
            os.chmod(temp, 0o644)
        module.atomic_move(temp, path)

    if os.path.exists(path) and not module.check_mode:
        file_args = module.load_file_common_arguments(params)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
