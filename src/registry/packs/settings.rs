//! Per-pack tool settings (curation): the checks an edit of one member's
//! settings must pass against the rest of the pack, and what an edit changed,
//! for its revision. How settings apply is in `resolve`.

use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Violations};
use crate::registry::packs::model::{Member, PinnedTool, ToolSettings};

/// Who holds a name a tool is shown under in a pack.
enum Holder<'a> {
    /// A tool's qualified name `<server>__<tool>`.
    Tool { member: usize, tool: &'a str },
    /// An alias from the settings of another member, or an earlier entry
    /// of the same edit.
    Alias { member: usize, tool: &'a str },
}

/// Checks the aliases of `settings`, the new settings of member `position`:
/// each must differ from every alias of the other members, from every other
/// alias of `settings`, and from the qualified name of every tool the
/// members have now (`tools`, by server id), except the tool it renames.
/// Every collision is one violation under `tool_settings.tools[i].alias`
/// naming both tools.
pub fn check_aliases(
    members: &[Member],
    position: usize,
    settings: &ToolSettings,
    tools: &HashMap<String, Vec<PinnedTool>>,
) -> Result<(), Error> {
    let mut taken: HashMap<String, Holder<'_>> = HashMap::new();
    for (i, member) in members.iter().enumerate() {
        for tool in tools.get(&member.server_id).into_iter().flatten() {
            taken
                .entry(format!("{}__{}", member.name, tool.name))
                .or_insert(Holder::Tool {
                    member: i,
                    tool: &tool.name,
                });
        }
    }
    for (i, member) in members.iter().enumerate().filter(|(i, _)| *i != position) {
        for setting in &member.settings.tools {
            if let Some(alias) = &setting.alias {
                taken.insert(
                    alias.clone(),
                    Holder::Alias {
                        member: i,
                        tool: &setting.tool_name,
                    },
                );
            }
        }
    }
    let name_of = |member: usize| members.get(member).map_or("?", |m| m.name.as_str());
    let mut v = Violations::new();
    for (i, setting) in settings.tools.iter().enumerate() {
        let Some(alias) = &setting.alias else {
            continue;
        };
        let field = format!("tool_settings.tools[{i}].alias");
        let this = format!(
            "alias {alias:?} of tool {:?} of server {:?}",
            setting.tool_name,
            name_of(position)
        );
        match taken.get(alias) {
            Some(Holder::Tool { member, tool })
                if !(*member == position && *tool == setting.tool_name) =>
            {
                v.add(
                    field,
                    format!(
                        "{this} collides with the qualified name of tool {tool:?} of server {:?}",
                        name_of(*member)
                    ),
                );
                continue;
            }
            Some(Holder::Alias { member, tool }) => {
                v.add(
                    field,
                    format!(
                        "{this} collides with the alias of tool {tool:?} of server {:?}",
                        name_of(*member)
                    ),
                );
                continue;
            }
            _ => {}
        }
        taken.insert(
            alias.clone(),
            Holder::Alias {
                member: position,
                tool: &setting.tool_name,
            },
        );
    }
    v.finish()
}

/// What changed from `before` to `after`: the member-level fields
/// (`only_listed_tools`) and the names of the tools whose settings were
/// added, changed or removed, sorted.
pub fn difference(before: &ToolSettings, after: &ToolSettings) -> (Vec<String>, Vec<String>) {
    let fields = if before.only_listed == after.only_listed {
        Vec::new()
    } else {
        vec!["only_listed_tools".to_owned()]
    };
    let names: BTreeSet<&str> = (before.tools.iter().chain(&after.tools))
        .map(|t| t.tool_name.as_str())
        .collect();
    let tools = names
        .into_iter()
        .filter(|name| before.tool(name) != after.tool(name))
        .map(str::to_owned)
        .collect();
    (fields, tools)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::packs::model::ToolSetting;

    fn member(id: &str, name: &str, settings: ToolSettings) -> Member {
        Member {
            server_id: id.into(),
            name: name.into(),
            settings,
        }
    }

    fn aliased(tool: &str, alias: &str) -> ToolSetting {
        ToolSetting {
            tool_name: tool.into(),
            alias: Some(alias.into()),
            ..Default::default()
        }
    }

    fn pinned(names: &[&str]) -> Vec<PinnedTool> {
        (names.iter())
            .map(|n| PinnedTool {
                name: (*n).into(),
                definition_hash: String::new(),
            })
            .collect()
    }

    fn violations(err: Error) -> Vec<(String, String)> {
        match err {
            Error::InvalidArgument(v) => {
                (v.into_iter()).map(|f| (f.field, f.description)).collect()
            }
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn an_alias_may_not_take_another_tools_name_or_alias_and_both_are_named() {
        let other = ToolSettings {
            tools: vec![aliased("issues", "bugs")],
            ..Default::default()
        };
        let members = [
            member("mcp_a", "a", ToolSettings::default()),
            member("mcp_b", "b", other),
        ];
        let tools = HashMap::from([
            ("mcp_a".to_owned(), pinned(&["x", "y"])),
            ("mcp_b".to_owned(), pinned(&["issues"])),
        ]);
        let settings = ToolSettings {
            tools: vec![
                aliased("x", "a__y"),
                aliased("y", "bugs"),
                aliased("z", "a__z"),
                aliased("w", "a__z"),
            ],
            ..Default::default()
        };
        let found = violations(check_aliases(&members, 0, &settings, &tools).unwrap_err());
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].0, "tool_settings.tools[0].alias");
        assert!(
            found[0].1.contains("tool \"y\" of server \"a\""),
            "{found:?}"
        );
        assert!(
            found[1]
                .1
                .contains("the alias of tool \"issues\" of server \"b\"")
        );
        assert_eq!(found[2].0, "tool_settings.tools[3].alias");
        assert!(found[2].1.contains("alias of tool \"z\""), "{found:?}");
    }

    #[test]
    fn an_alias_equal_to_its_own_tools_qualified_name_is_allowed() {
        let members = [member("mcp_a", "a", ToolSettings::default())];
        let tools = HashMap::from([("mcp_a".to_owned(), pinned(&["x"]))]);
        let settings = ToolSettings {
            tools: vec![aliased("x", "a__x")],
            ..Default::default()
        };
        assert!(check_aliases(&members, 0, &settings, &tools).is_ok());
    }

    #[test]
    fn the_difference_names_changed_tools_and_the_switch() {
        let before = ToolSettings {
            only_listed: false,
            tools: vec![aliased("a", "one"), aliased("b", "two")],
        };
        let after = ToolSettings {
            only_listed: true,
            tools: vec![aliased("b", "three"), aliased("c", "four")],
        };
        let (fields, tools) = difference(&before, &after);
        assert_eq!(fields, ["only_listed_tools"]);
        assert_eq!(tools, ["a", "b", "c"]);
    }
}
