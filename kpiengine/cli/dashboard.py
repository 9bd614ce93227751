"""``kpi report --html FILE`` and ``kpi serve``: the dashboard from the command line."""
from __future__ import annotations

import os

import click

from .common import handle_errors, load, parse_date, spec_option


def _view_options(f):
    opts = [
        click.option("--grain", "-g", default="week", show_default=True, help="day, week, month, quarter, year"),
        click.option("--by", "-b", default=None, help="breakdown dimension for tiles, funnel and trends (e.g. region)"),
        click.option("--period", default=None, metavar="YYYY-MM-DD",
                     help="a day in the period to show (default: the latest period with data)"),
        click.option("--compare", default=None, metavar="YYYY-MM-DD", help="period to compare with (default: the one before)"),
        click.option("--from", "start", default=None, metavar="YYYY-MM-DD", help="first day of the trends, inclusive"),
        click.option("--to", "end", default=None, metavar="YYYY-MM-DD", help="last day of the trends, exclusive"),
        click.option("--kpi", "-k", default=None, help="KPI to explain in 'why it changed' (default: the worst mover)"),
        click.option("--bubble-by", default=None, help="one bubble per value of this dimension (default rep)"),
        click.option("--bubble-x", default=None, help="KPI on the x axis (default visits)"),
        click.option("--bubble-y", default=None, help="KPI on the y axis (default conversion)"),
        click.option("--bubble-size", default=None, help="KPI for the bubble size (default revenue or deals_won)"),
        click.option("--where", "-w", default=None,
                     help="query filter over dimension names, as for kpi run --where: \"region = 'east' AND "
                          "channel IN ('web', 'partner')\"; every panel is computed on the warehouse with it"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _review_report(spec, html_path, outcomes, raw) -> None:
    # lazy: kpi --help stays fast
    from .review import review_output, write_file

    if not raw.get("start"):
        raise click.UsageError("--review needs the review window: --from YYYY-MM-DD [--to YYYY-MM-DD]")
    start, end = (parse_date(None, None, raw.get(k)) for k in ("start", "end"))
    by = (raw["by"],) if raw.get("by") else ()
    kpis = (raw["kpi"],) if raw.get("kpi") else ()
    write_file(html_path, review_output(spec, start, end, raw["grain"], kpis, outcomes, by, "html"))
    click.echo(f"wrote {html_path} ({os.path.getsize(html_path) / 1024:.0f} KB): the review from {start}"
               f"{' to ' + str(end) if end else ''}")


def register(cli: click.Group) -> None:
    @cli.command()
    @spec_option
    @click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False),
                  help="write one self-contained HTML file here (works offline, small enough to mail)")
    @click.option("--review", is_flag=True, help="write the printable Review page for the window --from/--to instead")
    @click.option("--outcome", "outcomes", multiple=True, help="with --review: outcome KPI (repeatable)")
    @_view_options
    @handle_errors
    def report(spec, html_path, review, outcomes, **raw):
        """Write the dashboard (or, with --review, the review page) as one offline HTML file."""
        # lazy: kpi --help stays fast
        from ..dashboard.options import parse_options
        from ..dashboard.report import write_report

        if review:
            _review_report(spec, html_path, outcomes, raw)
            return
        project = load(spec)
        options = parse_options(project, raw)
        data = write_report(project, options, html_path)
        meta = data["meta"]
        size = os.path.getsize(html_path)
        firing = data["alerts"].get("counts", {}).get("firing", 0) if not data["alerts"].get("empty") else 0
        click.echo(f"wrote {html_path} ({size / 1024:.0f} KB): {meta['grain']} {meta['current_label']} vs "
                   f"{meta['previous_label']}" + (f", by {meta['by']}" if meta["by"] else "") +
                   f"; {len(data['attention']['items'])} item(s) need attention, {firing} alert(s) firing")
        if meta.get("period_note"):
            click.echo(f"showing {meta['period_note']}")
        for note in meta.get("stale", []):
            click.secho(f"warning: {note}", fg="yellow", err=True)
        for panel, note in meta["notes"].items():
            click.echo(f"note ({panel}): {note}", err=True)

    @cli.command()
    @spec_option
    @click.option("--host", default="127.0.0.1", show_default=True,
                  help="interface to listen on; keep 127.0.0.1 unless others must see it")
    @click.option("--port", "-p", default=8765, show_default=True, type=int)
    @click.option("--quiet", "-q", is_flag=True, help="do not log each request")
    @handle_errors
    def serve(spec, host, port, quiet):
        """Serve the live, read-only dashboard (reads the spec and history on every refresh)."""
        # lazy: kpi --help stays fast
        from ..dashboard.server import DashboardServer

        project = load(spec)  # fail now, with located messages, if the spec is invalid
        try:
            server = DashboardServer(os.path.abspath(spec), host, port, quiet=quiet)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                       f"try another --port") from None
        if host not in ("127.0.0.1", "localhost", "::1"):
            click.secho(f"warning: listening on {host}: anyone who can reach this machine can read these KPIs",
                        fg="yellow", err=True)
        click.echo(f"dashboard at {server.url}  (read-only; Ctrl+C to stop)")
        for note in _stale_notes(project):
            click.secho(f"warning: {note}", fg="yellow", err=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped")
        finally:
            server.server_close()


def _stale_notes(project) -> list[str]:
    """Models past their max_delay, as the latest runs stored their watermarks (the page says it too)."""
    from ..run.history import HistoryStore  # lazy: kpi --help stays fast

    try:
        return [w.note() for w in HistoryStore.for_project(project).watermarks(project).values() if w.stale]
    except Exception:  # a missing or locked history file: the dashboard says so itself
        return []
