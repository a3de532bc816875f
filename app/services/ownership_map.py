"""The ownership map: who holds what, through which profile, as a layered graph.

The service builds nodes and edges from the registry and lays them out in columns; the
template draws them as SVG on the server (no JavaScript). Every node says in words what it
is and what state it is in, so the picture reads without colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.models.account import Account, AccountStatus
from app.models.person import Person
from app.models.profile import Profile, ProfileKind
from app.services.people import AccountLine, FootprintLines, ProfileLine

NODE_WIDTH = 210
NODE_HEIGHT = 52
ROW_GAP = 14
COLUMN_GAP = 100
MARGIN = 12
#: Beyond this many nodes a column ends with a "+N more" node.
MAX_PER_COLUMN = 14
TITLE_CHARS = 27
TONE_RANK = {"neutral": 0, "muted": 0, "ok": 1, "warn": 2, "danger": 3}
#: Vertical spacing of the lanes that carry edges skipping a column.
LANE_GAP = 18


@dataclass
class Node:
    key: str
    column: int
    title: str
    subtitle: str
    href: str | None = None
    #: ok / warn / danger / neutral: reinforces the words in ``subtitle``, never replaces them.
    tone: str = "neutral"
    x: int = 0
    y: int = 0

    @property
    def short_title(self) -> str:
        return self.title if len(self.title) <= TITLE_CHARS else self.title[: TITLE_CHARS - 1] + "…"

    @property
    def short_subtitle(self) -> str:
        limit = TITLE_CHARS + 6
        return self.subtitle if len(self.subtitle) <= limit else self.subtitle[: limit - 1] + "…"


@dataclass
class Edge:
    source: str
    target: str
    label: str
    tone: str = "neutral"
    path: str = ""
    label_x: int = 0
    label_y: int = 0


@dataclass
class Graph:
    title: str
    columns: list[str]
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT

    @property
    def column_x(self) -> list[int]:
        return [MARGIN + i * (NODE_WIDTH + COLUMN_GAP) for i in range(len(self.columns))]

    def add_node(self, node: Node) -> Node:
        return self.nodes.setdefault(node.key, node)

    def add_edge(self, source: str, target: str, label: str, tone: str = "neutral") -> None:
        if source not in self.nodes or target not in self.nodes:
            return
        for edge in self.edges:
            if edge.source == source and edge.target == target:
                # One line per pair: "owner + admin" rather than two lines drawn on top of each other.
                if label not in edge.label.split(" + "):
                    edge.label = f"{edge.label} + {label}"
                if TONE_RANK[tone] > TONE_RANK[edge.tone]:
                    edge.tone = tone
                return
        self.edges.append(Edge(source, target, label, tone))

    @property
    def is_empty(self) -> bool:
        return len(self.nodes) <= 1


def _person_node(person: Person, column: int = 0) -> Node:
    state = {"active": "active", "leaving": f"leaving {person.last_day or ''}".strip(), "departed": "has left"}[
        person.status.value
    ]
    tone = {"active": "neutral", "leaving": "warn", "departed": "danger"}[person.status.value]
    return Node(f"person-{person.id}", column, person.name, f"Person · {state}", f"/people/{person.id}", tone)


def _profile_node(profile: Profile | ProfileLine, column: int = 1) -> Node:
    tone = {
        ProfileKind.PERSONAL: "warn",
        ProfileKind.PERSONA: "neutral",
        ProfileKind.SHARED_LOGIN: "neutral",
        ProfileKind.ORGANISATION: "ok",
    }[profile.kind]
    if isinstance(profile, Profile):
        holder_left, platform_name = profile.holder is not None and profile.holder.has_left, profile.platform.name
    else:
        holder_left, platform_name = profile.holder_left, profile.platform_name
    if profile.kind is ProfileKind.PERSONAL and holder_left:
        tone = "danger"
    return Node(
        f"profile-{profile.id}",
        column,
        profile.label,
        f"{profile.kind.label} profile · {platform_name}",
        f"/profiles/{profile.id}",
        tone,
    )


def _account_node(account: Account | AccountLine, column: int) -> Node:
    platform_name = account.platform.name if isinstance(account, Account) else account.platform_name
    return Node(
        f"account-{account.id}",
        column,
        account.name,
        f"{platform_name} account · {account.status.value}",
        f"/accounts/{account.id}",
        "muted" if account.status is AccountStatus.RETIRED else "neutral",
    )


def _people_behind(graph: Graph, profile: Profile) -> None:
    """Add the holder or custodians of a profile in column 0, linked to it."""
    if profile.holder is not None:
        graph.add_node(_person_node(profile.holder))
        graph.add_edge(
            f"person-{profile.holder.id}", f"profile-{profile.id}", "holds", "danger" if profile.holder.has_left else "neutral"
        )
    for person in profile.custodians:
        graph.add_node(_person_node(person))
        graph.add_edge(f"person-{person.id}", f"profile-{profile.id}", "keeps", "danger" if person.has_left else "neutral")


def for_account(account: Account) -> Graph:
    """People → profiles → the account → where recovery would go and which tools are connected."""
    graph = Graph(f"Who controls {account.name}", ["People", "Profiles", "Account", "Recovery and tools"])
    graph.add_node(_account_node(account, 2))
    target = f"account-{account.id}"
    if account.owner_profile is not None:
        graph.add_node(_profile_node(account.owner_profile))
        graph.add_edge(
            f"profile-{account.owner_profile.id}",
            target,
            "owner",
            "warn" if account.owner_profile.kind is ProfileKind.PERSONAL else "neutral",
        )
        _people_behind(graph, account.owner_profile)
    for admin in account.admins:
        graph.add_node(_profile_node(admin.profile))
        graph.add_edge(f"profile-{admin.profile.id}", target, admin.role_name)
        _people_behind(graph, admin.profile)
    for contact in account.recovery_contacts:
        if contact.person is not None:
            state = " (has left)" if contact.person.has_left else ""
            subtitle, tone = f"Tied to {contact.person.name}{state}", "danger" if contact.person.has_left else "warn"
        else:
            subtitle, tone = "Institutional", "ok"
        graph.add_node(Node(f"recovery-{contact.id}", 3, f"{contact.kind.label}: {contact.value}", subtitle, None, tone))
        graph.add_edge(target, f"recovery-{contact.id}", "recovery", tone)
    for connection in account.connections:
        through = connection.profile.label if connection.profile else "unknown login"
        graph.add_node(Node(f"connection-{connection.id}", 3, connection.tool_name, f"Tool · through {through}", None, "neutral"))
        graph.add_edge(target, f"connection-{connection.id}", "connected")
        if connection.profile is not None:
            graph.add_node(_profile_node(connection.profile))
            graph.add_edge(f"profile-{connection.profile.id}", f"connection-{connection.id}", "authorised")
            _people_behind(graph, connection.profile)
    if account.steward is not None:
        graph.add_node(_person_node(account.steward))
        graph.add_edge(f"person-{account.steward.id}", target, "steward", "danger" if account.steward.has_left else "neutral")
    return layout(graph)


def for_person(fp: FootprintLines) -> Graph:
    """The person → the profiles they hold or keep → the accounts those reach, plus stewardships and recovery."""
    person = fp.person
    graph = Graph(f"What {person.name} holds", ["Person", "Profiles", "Accounts"])
    me = graph.add_node(_person_node(person)).key
    for profile in fp.profiles:
        graph.add_node(_profile_node(profile))
        graph.add_edge(me, f"profile-{profile.id}", "holds")
    for profile in fp.custodian_of:
        graph.add_node(_profile_node(profile))
        graph.add_edge(me, f"profile-{profile.id}", "keeps")
    for held in fp.owned:
        graph.add_node(_account_node(held.account, 2))
        graph.add_edge(f"profile-{held.profile_id}", f"account-{held.account.id}", "owner", "warn")
    for held in (*fp.admin_roles, *fp.through_custody):
        graph.add_node(_account_node(held.account, 2))
        graph.add_edge(f"profile-{held.profile_id}", f"account-{held.account.id}", held.role)
    for account in fp.stewarded:
        graph.add_node(_account_node(account, 2))
        graph.add_edge(me, f"account-{account.id}", "steward")
    for contact in fp.recovery_contacts:
        graph.add_node(_account_node(contact.account, 2))
        graph.add_edge(me, f"account-{contact.account.id}", f"recovery {contact.kind.label.lower()}", "warn")
    for connection in fp.connections:
        graph.add_node(_account_node(connection.account, 2))
        graph.add_edge(f"profile-{connection.profile_id}", f"account-{connection.account.id}", connection.tool_name)
    return layout(graph)


def layout(graph: Graph) -> Graph:
    """Stack each column's nodes top to bottom, cap long columns, and route edges as curves."""
    columns: dict[int, list[Node]] = {}
    for node in graph.nodes.values():
        columns.setdefault(node.column, []).append(node)
    for index, nodes in list(columns.items()):
        if len(nodes) > MAX_PER_COLUMN:
            hidden = nodes[MAX_PER_COLUMN - 1 :]
            for node in hidden:
                del graph.nodes[node.key]
            more = Node(f"more-{index}", index, f"+{len(hidden)} more", "listed below the map", None, "neutral")
            graph.nodes[more.key] = more
            columns[index] = nodes[: MAX_PER_COLUMN - 1] + [more]
    graph.edges = [e for e in graph.edges if e.source in graph.nodes and e.target in graph.nodes]
    tallest = max((len(n) for n in columns.values()), default=1)
    used = sorted(columns)
    for index in used:
        nodes = columns[index]
        offset = (tallest - len(nodes)) * (NODE_HEIGHT + ROW_GAP) // 2
        for row, node in enumerate(nodes):
            node.x = MARGIN + index * (NODE_WIDTH + COLUMN_GAP)
            node.y = MARGIN + 24 + offset + row * (NODE_HEIGHT + ROW_GAP)
    bottom = MARGIN + 24 + tallest * (NODE_HEIGHT + ROW_GAP)
    lanes = 0
    for edge in graph.edges:
        a, b = graph.nodes[edge.source], graph.nodes[edge.target]
        if abs(a.column - b.column) > 1:
            # An edge that would cross a column of boxes runs in its own lane below them.
            # It leaves into the gap beside its column, drops to the lane, and climbs back up in
            # the gap before its target, so it never crosses a box.
            lanes += 1
            lane_y = bottom + lanes * LANE_GAP
            shift = (lanes % 4) * 6
            if a.column < b.column:
                x1, gap1 = a.x + NODE_WIDTH, a.x + NODE_WIDTH + COLUMN_GAP // 3 + shift
                x2, gap2 = b.x, b.x - COLUMN_GAP // 3 - shift
            else:
                x1, gap1 = a.x, a.x - COLUMN_GAP // 3 - shift
                x2, gap2 = b.x + NODE_WIDTH, b.x + NODE_WIDTH + COLUMN_GAP // 3 + shift
            y1, y2 = a.y + NODE_HEIGHT // 2, b.y + NODE_HEIGHT // 2
            edge.path = f"M{x1},{y1} L{gap1},{y1} L{gap1},{lane_y} L{gap2},{lane_y} L{gap2},{y2} L{x2},{y2}"
            edge.label_x, edge.label_y = (gap1 + gap2) // 2, lane_y - 4
            continue
        if a.column <= b.column:
            x1, x2 = a.x + NODE_WIDTH, b.x
        else:
            x1, x2 = a.x, b.x + NODE_WIDTH
        y1, y2 = a.y + NODE_HEIGHT // 2, b.y + NODE_HEIGHT // 2
        bend = max(30, abs(x2 - x1) // 2)
        direction = 1 if x2 >= x1 else -1
        c1x, c2x = x1 + direction * bend, x2 - direction * bend
        edge.path = f"M{x1},{y1} C{c1x},{y1} {c2x},{y2} {x2},{y2}"
        # Label in the middle of the gap, at the height the curve has a third of the way along:
        # edges converge on their target, and labels level with it would pile up.
        t = 0.3
        edge.label_x = (x1 + x2) // 2
        edge.label_y = round(((1 - t) ** 3 + 3 * (1 - t) ** 2 * t) * y1 + (3 * (1 - t) * t**2 + t**3) * y2) - 5
    graph.height = bottom + lanes * LANE_GAP + MARGIN
    graph.width = MARGIN * 2 + len(graph.columns) * NODE_WIDTH + (len(graph.columns) - 1) * COLUMN_GAP
    return graph
