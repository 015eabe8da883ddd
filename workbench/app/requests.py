"""Dash request bodies built from the callbacks an app serves, as a browser would send them.

:class:`AppMap` reads ``/_dash-dependencies`` and ``/_dash-layout`` (or the
same data in process) and builds the JSON body of ``POST
/_dash-update-component`` for any callback, with the layout's values or the
ones a caller gives. The load benchmark (``benchmarks/bench_load.py``) drives
a server with it, and the fuzz test (``tests/test_app_fuzz.py``) sends every
callback malformed values with it. Nothing in the app itself uses it.
"""

from __future__ import annotations

import json

__all__ = ["AppMap", "id_key"]


def id_key(cid) -> str:
    """The string Dash uses for a component id (a dict id as sorted JSON)."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else cid


def _parse_id(text: str):
    """Inverse of :func:`id_key`."""
    return json.loads(text) if text.startswith("{") else text


class AppMap:
    """The served callbacks and layout values, and the request bodies built from them."""

    def __init__(self, dependencies: list[dict], layout: dict) -> None:
        self.callbacks = [cb for cb in dependencies if not cb.get("clientside_function")]
        self.values: dict[tuple[str, str], object] = {}
        self.components: dict[str, object] = {}
        self._walk(layout)

    def _walk(self, node) -> None:
        if isinstance(node, list):
            for child in node:
                self._walk(child)
        elif isinstance(node, dict) and "props" in node:
            props = node["props"]
            if "id" in props:
                key = id_key(props["id"])
                self.components[key] = props["id"]
                for prop, value in props.items():
                    self.values[(key, prop)] = value
            for value in props.values():
                if isinstance(value, (list, dict)):
                    self._walk(value)

    def _expand(self, dep: dict, values: dict, components: dict | None = None) -> object:
        """One input or state entry with its value; a wildcard ALL id becomes the list of matching components.

        ``components`` (id key -> id) are the tab's own where its page differs from the served layout.
        """
        cid = _parse_id(dep["id"])
        prop = dep["property"]
        if isinstance(cid, dict) and any(v == ["ALL"] for v in cid.values()):
            fixed = {k: v for k, v in cid.items() if v != ["ALL"]}
            pool = components if components is not None else self.components
            found = [c for c in pool.values() if isinstance(c, dict) and fixed.items() <= c.items()]
            return [{"id": c, "property": prop, "value": self._value(c, prop, values)} for c in found]
        if isinstance(cid, dict) and any(isinstance(v, list) for v in cid.values()):
            raise KeyError(f"pattern {cid} is not supported")
        return {"id": cid, "property": prop, "value": self._value(cid, prop, values)}

    def _value(self, cid, prop: str, values: dict):
        key = (id_key(cid), prop)
        if key in values:
            return values[key]
        if prop == "id":
            return cid
        return self.values.get(key)

    @staticmethod
    def _outputs(output: str):
        parts = output[2:-2].split("...") if output.startswith("..") else [output]
        specs = []
        for part in parts:
            cid, prop = part.rsplit(".", 1) if not part.startswith("{") else part.rsplit("}.", 1)
            cid = cid + "}" if part.startswith("{") else cid
            specs.append({"id": _parse_id(cid), "property": prop.split("@", 1)[0]})
        return specs if output.startswith("..") else specs[0]

    def find(self, *, input: tuple[str, str] | None = None, output: tuple[str, str] | None = None) -> dict:
        """The one callback with this input (or output) ``(id, property)``."""
        found = []
        for cb in self.callbacks:
            if input is not None and any(
                (d["id"], d["property"]) == (id_key(input[0]), input[1]) for d in cb["inputs"]
            ):
                found.append(cb)
            if output is not None:
                outs = self._outputs(cb["output"])
                outs = outs if isinstance(outs, list) else [outs]
                if any((id_key(o["id"]), o["property"]) == (id_key(output[0]), output[1]) for o in outs):
                    found.append(cb)
        if len(found) != 1:
            raise KeyError(f"{len(found)} callbacks have {input or output}, not one")
        return found[0]

    def body(
        self, cb: dict, values: dict, trigger: tuple[str, str] | None = None, components: dict | None = None
    ) -> dict:
        """The POST body of ``cb``; ``values`` maps ``(id key, property)`` to what this tab holds."""
        return {
            "output": cb["output"],
            "outputs": self._outputs(cb["output"]),
            "inputs": [self._expand(d, values, components) for d in cb["inputs"]],
            "state": [self._expand(d, values, components) for d in cb.get("state", [])],
            "changedPropIds": [f"{id_key(trigger[0])}.{trigger[1]}"] if trigger else [],
        }

    def initial(self) -> list[dict]:
        """The callbacks a page load fires (those without prevent_initial_call whose patterns we can fill)."""
        out = []
        for cb in self.callbacks:
            if cb.get("prevent_initial_call"):
                continue
            try:
                self.body(cb, {})
            except KeyError:
                continue
            out.append(cb)
        return out
