"""A DAG file builds a constructor call many tasks pass alike once, as a module constant.
Calls are matched by a key, not by rendering each one to text again (that made export
quadratic in a pod specification's depth); the key must be equal exactly when the text is,
and bind imports in the order the text does (a clashing name's alias depends on it)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processing_core.nodes.spec import Call, Name
from processing_core.render.literal import ImportTable, SharedCalls, to_source

# Few values, so that equal ones are drawn often; names that clash across modules; the
# scalars Python calls equal but a DAG file writes differently (1, 1.0, True; 0.0, -0.0).
TARGETS = st.sampled_from(["m:V1Volume", "n:V1Volume", "m:V1EnvVar", "m:A.b"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, 1, -0.0, 0.0, 1.0]),
    st.sampled_from(["", "1", "(", "[", "#", "{", ".", "m:V1Volume", "a"]),
)  # fmt: skip


def values(children: st.SearchStrategy) -> st.SearchStrategy:
    keys = st.sampled_from(["a", "b", "name"])
    args = st.lists(children, max_size=2).map(tuple)
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(keys, children, max_size=2),
        st.builds(Name, TARGETS),
        st.builds(Call, TARGETS, args, st.dictionaries(keys, children, max_size=2)),
    )


PLAIN = st.recursive(SCALARS, values, max_leaves=8)


@settings(max_examples=600)
@given(PLAIN, PLAIN)
def test_two_values_have_equal_keys_exactly_when_a_dag_file_writes_them_alike(left, right):
    imports = ImportTable()
    shared = SharedCalls(imports)
    same_key = shared.key(left) == shared.key(right)
    assert same_key == (to_source(left, imports) == to_source(right, imports))


@settings(max_examples=300)
@given(st.lists(PLAIN, max_size=4))
def test_keys_bind_imports_in_the_order_the_text_does(items):
    keyed, written = ImportTable(), ImportTable()
    shared = SharedCalls(keyed)
    for item in items:
        shared.key(item)
        to_source(item, written)
    assert keyed.lines() == written.lines()


def test_a_call_written_elsewhere_becomes_the_constant_of_an_equal_one():
    imports = ImportTable()
    shared = SharedCalls(imports)
    volume = Call("m:V1Volume", kwargs={"name": "data"})
    shared.add(volume, "VOLUMES_1")
    again = Call("m:V1Volume", kwargs={"name": "data"})  # another object, equal text
    other = Call("n:V1Volume", kwargs={"name": "data"})  # another module's class
    assert to_source([again, other], imports, 0, shared) == "[VOLUMES_1, V1Volume_2(name='data')]"
