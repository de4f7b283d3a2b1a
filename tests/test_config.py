import pytest

from corolla.config import Config, ConfigError, builtin_configs, load_config, parse_config


def test_builtin_configs_load():
    names = builtin_configs()
    assert {"default", "icebreaker"} <= set(names)
    for name in names:
        assert load_config(name).name == name
    assert load_config("default") == Config(name="default", description=load_config(
        "default").description)


def test_missing_keys_take_defaults():
    config = parse_config({"array": {"rows": 8}})
    assert config.array.rows == 8 and config.array.cols == 4
    assert config.widths.accumulator == 32


@pytest.mark.parametrize("data,message", [
    ({"arrray": {}}, "unknown key 'arrray'; expected one of: array, binary, clock_mhz, "
                     "description, lns, memory, name, pool, sparse, ternary, widths"),
    ({"array": {"colz": 4}}, "unknown key 'array.colz'; expected one of: cols, conv, "
                             "dataflow, pe, rows"),
    ({"array": {"rows": "4"}}, "key 'array.rows' = '4' has type str; expected an integer"),
    ({"array": {"rows": True}}, "key 'array.rows' = True has type bool"),
    ({"array": {"rows": 0}}, "key 'array.rows' = 0 is out of range; expected an integer "
                             "from 1 to 64"),
    ({"array": {"pe": "fp32"}}, "key 'array.pe' = 'fp32' is not allowed; expected one of "
                                "'int8', 'ternary', 'binary', 'lns'"),
    ({"widths": {"accumulator": 70}}, "key 'widths.accumulator' = 70 is out of range"),
    ({"widths": {"accumulator": 20, "activation": 16}},
     "key 'widths.accumulator' = 20 is too narrow; expected at least"),
    ({"sparse": {"enabled": "yes"}}, "key 'sparse.enabled' = 'yes' has type str; expected true"),
    ({"clock_mhz": 0}, "key 'clock_mhz' = 0 is out of range"),
    ({"array": 3}, "key 'array' = 3 is not a table"),
])
def test_bad_values_name_key_value_and_expectation(data, message):
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="neither a built-in configuration"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[array\nrows = 4\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[widths]\naccumulator = 8\n")
    with pytest.raises(ConfigError, match=r"wrong\.toml: key 'widths\.accumulator' = 8"):
        load_config(wrong)


def test_lns_keys_and_format():
    from corolla.config import parse_config
    from corolla.formats import LnsFormat

    config = parse_config({"lns": {"frac_bits": 6, "table_frac_bits": 3, "interpolate": True,
                                   "accumulate": "linear"}})
    assert config.lns.format() == LnsFormat(4, 6, 3, True)
    assert parse_config({"lns": {"frac_bits": 1}}).lns.table_frac_bits == 1
    with pytest.raises(ConfigError, match=r"'lns\.table_frac_bits' = 5 is too fine"):
        parse_config({"lns": {"frac_bits": 3, "table_frac_bits": 5}})
    for mode in ("fast", "kahan", "log"):         # the array accumulates LNS linearly only
        with pytest.raises(ConfigError, match=rf"'lns\.accumulate' = '{mode}' is not allowed"):
            parse_config({"lns": {"accumulate": mode}})
