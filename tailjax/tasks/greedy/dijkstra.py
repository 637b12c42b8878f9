"""Greedy task: dijkstra.

Instance: a connected undirected graph on vertices 0..n-1 with positive integer edge weights
(a random spanning tree plus about n/2 extra edges, weights 1..20) and a source vertex.
Answer: the shortest-path distance from the source to every vertex, in vertex order,
comma-separated ("0,7,3,...").
Greedy: Dijkstra with a linear scan for the closest unvisited vertex. Each step is a state:
one per candidate scanned (it restates that vertex's tentative distance and the best so far),
one per visit, and one per edge of the visited vertex (it restates dist[u], the weight and
dist[v] and relaxes, or says v is already visited).
Symmetry folded: the order of the edges and of each edge's two ends (the sampler lists them
sorted, but a record file need not). Renaming vertices is not folded: it reorders the answer.
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_int_list
from tailjax.tasks.trace import Trace


MAX_WEIGHT = 20


def sample_graph(rng: random.Random, n: int) -> dict:
    order = list(range(n))
    rng.shuffle(order)
    pairs = set()
    for i in range(1, n):
        u, v = order[i], order[rng.randrange(i)]
        pairs.add((min(u, v), max(u, v)))
    missing = [(u, v) for u in range(n) for v in range(u + 1, n) if (u, v) not in pairs]
    pairs.update(rng.sample(missing, min(len(missing), n // 2)))
    edges = [[u, v, rng.randint(1, MAX_WEIGHT)] for u, v in sorted(pairs)]
    return {"n": n, "edges": edges, "source": rng.randrange(n)}


def _dist(d) -> str:
    return "inf" if d is None else str(d)


def solve_dijkstra(instance: dict):
    n, src = instance["n"], instance["source"]
    adj: dict[int, list[tuple[int, int]]] = {v: [] for v in range(n)}
    for u, v, w in instance["edges"]:
        adj[u].append((v, w))
        adj[v].append((u, w))
    for v in adj:
        adj[v].sort()
    dist: list[int | None] = [None] * n
    dist[src] = 0
    visited = [False] * n
    tr = Trace()
    tr.note(f"Run Dijkstra's algorithm from vertex {src}.")
    tr.state("initialize distances", fetch={"source": src},
             compute="the source is at distance 0 and every other vertex at inf",
             write={f"dist[{src}]": 0})
    for rnd in range(1, n + 1):
        best = None
        for v in range(n):
            if visited[v] or dist[v] is None:
                continue
            if best is None:
                tr.state(f"scan vertex {v} in round {rnd}", fetch={f"dist[{v}]": dist[v]},
                         compute="it is the first candidate", write={"best": v}, loop="scan")
                best = v
            else:
                better = dist[v] < dist[best]
                tr.state(f"scan vertex {v} in round {rnd}",
                         fetch={f"dist[{v}]": dist[v], "best": best, f"dist[{best}]": dist[best]},
                         compute=f"{dist[v]} {'<' if better else '>='} {dist[best]}",
                         write={"best": v if better else best}, loop="scan")
                best = v if better else best
        if best is None:
            break
        u = best
        visited[u] = True
        tr.state(f"visit vertex {u}", fetch={"best": u, f"dist[{u}]": dist[u]},
                 compute=f"dist[{u}] = {dist[u]} is final", write={f"done[{u}]": "yes"})
        if rnd <= 2:
            tr.note(f"Visit vertex {u} at distance {dist[u]}.")
        for v, w in adj[u]:
            name = f"relax edge {u}-{v}"
            if visited[v]:
                tr.state(name, fetch={f"done[{v}]": "yes"}, compute=f"vertex {v} is already "
                         "visited", loop="relax")
                continue
            new = dist[u] + w
            better = dist[v] is None or new < dist[v]
            op = "<" if better else ">="
            tr.state(name, fetch={f"dist[{u}]": dist[u], f"w({u},{v})": w,
                                 f"dist[{v}]": _dist(dist[v])},
                     compute=f"{dist[u]} + {w} = {new} {op} {_dist(dist[v])}",
                     write={f"dist[{v}]": new if better else dist[v]}, loop="relax")
            if better:
                dist[v] = new
    answer = ",".join(str(d) for d in dist)
    tr.state("report distances", fetch={f"dist[{v}]": dist[v] for v in range(n)},
             compute="no unvisited vertex is reachable")
    tr.note(f"The distances from vertex {src} are {answer}.")
    return tr.finish(answer)


def canonical_distances(text: str) -> str:
    return canonical_int_list(text, sort=False)


DIJKSTRA_TEMPLATES = (
    "Find the shortest-path distance from vertex {source} to every vertex of the undirected "
    "weighted graph with vertices 0..{last} and edges (u, v, weight): {edges}. Answer with the "
    "distances in vertex order, comma-separated.",
    "Graph: {n} vertices, edges {edges} (u-v:weight). Use Dijkstra's algorithm from vertex "
    "{source} and list dist[0], ..., dist[{last}].",
    "Compute single-source shortest paths from {source} in the graph with edges {edges}. "
    "Output the distance to each of the vertices 0 to {last}.",
    "Given an undirected graph on {n} vertices whose weighted edges are {edges}, what is the "
    "length of the shortest path from vertex {source} to each vertex?",
    "Run Dijkstra from source {source}. Edges: {edges}. Report the distances of vertices 0.."
    "{last} as a comma-separated list.",
    "The edges of a weighted graph are {edges}. Starting at vertex {source}, give the minimum "
    "total weight needed to reach every vertex (0 to {last}).",
    "Edge list (u-v:w): {edges}. Source: {source}. Shortest distances to all {n} vertices?",
    "Determine the shortest distances from node {source} to nodes 0 through {last}, where the "
    "graph has undirected edges {edges}.",
    "In the graph with {n} nodes and weighted undirected edges {edges}, find dist(source = "
    "{source}, v) for every node v.",
    "Solve the single-source shortest path problem: vertices 0..{last}, edges {edges}, source "
    "{source}. List the distances in order of the vertex numbers.",
    "What are the shortest path lengths from vertex {source} in the network {edges}? Write them "
    "for vertices 0..{last}.",
    "A city has {n} intersections numbered 0 to {last}. Two-way streets connect them with these "
    "travel times in minutes (a-b:minutes): {edges}. A taxi starts at intersection {source}. "
    "What is the fastest travel time to each intersection?",
    "A delivery company's depot is warehouse {source}. Roads between its {n} warehouses have "
    "the lengths {edges} (a-b:km). How far is the shortest drive from the depot to each "
    "warehouse?",
    "A computer network has {n} routers, 0 to {last}. Links (a-b:latency in ms): {edges}. "
    "Router {source} sends a packet. What is the smallest latency to each router?",
    "Hiking trails join {n} huts numbered 0..{last}; each trail's length in km is given as "
    "a-b:km: {edges}. From hut {source}, find the shortest hiking distance to every hut.",
    "An airline's flights between {n} airports have costs (a-b:cost) {edges}, valid in both "
    "directions. Starting from airport {source}, what is the cheapest total cost to reach "
    "each airport?",
    "A power grid has {n} stations. Cables (a-b:loss) are {edges}. Power enters at station "
    "{source}. Find the minimum total loss to reach each station.",
    "In a video game map with {n} rooms (0..{last}), corridors cost energy (a-b:energy): "
    "{edges}. The player spawns in room {source}. Give the least energy needed to reach "
    "every room.",
    "Subway stations 0..{last} are connected by lines with ride times (a-b:min) {edges}. "
    "From station {source}, how long is the quickest trip to each station?",
    "A water utility pumps from reservoir {source}. Pipes between its {n} junctions have "
    "resistances (a-b:r) {edges}. Find the least total resistance to every junction.",
    "A courier must know the shortest route length from office {source} to each of the {n} "
    "offices, given the two-way roads (a-b:length) {edges}.",
    "Friends in a social network are linked with 'distance' scores (a-b:score) {edges}. "
    "Starting from person {source}, find the smallest total score to reach each of the {n} "
    "people.",
)
# What the scorer requires (Task.answer_rule): the distances in vertex order.
DIJKSTRA_ANSWER = ("Each edge is written u-v:weight. Answer with the distances of vertices 0 "
                   "to {last} in vertex order, comma-separated.")


def dijkstra_fields(instance: dict) -> dict:
    edges = ", ".join(f"{u}-{v}:{w}" for u, v, w in instance["edges"])
    return {"n": instance["n"], "last": instance["n"] - 1, "source": instance["source"],
            "edges": edges}


register(Task(
    name="dijkstra",
    paradigm="greedy",
    ranges={"S": (3, 5), "M": (6, 10), "L": (11, 20)},
    sample=sample_graph,
    solve=solve_dijkstra,
    templates=DIJKSTRA_TEMPLATES,
    fields=dijkstra_fields,
    canonical=canonical_distances,
    answer_rule=DIJKSTRA_ANSWER,
    fold=lambda inst: {**inst, "edges": sorted([min(u, v), max(u, v), w]
                                               for u, v, w in inst["edges"])},
))
