// Entry point: reads the page's configuration (json_script) and starts the dashboard.
import "./style.css";
import { App } from "./app";
import type { Config } from "./api";
import { ScalarsPanel, withNeighbours } from "./panels/scalars";
import { ImagesPanel } from "./panels/images";
import { DistributionsPanel } from "./panels/distributions";
import { HistogramsPanel } from "./panels/histograms";
import { TextPanel } from "./panels/text";
import { GraphsPanel } from "./panels/graphs";
import { HParamsPanel } from "./panels/hparams";
import { emaStateBefore, smooth, smoothFrom } from "./smoothing";
import { absoluteRanges, alignSteps } from "./align";
import { compareTagNames, groupTags } from "./sort";
import { fmtTick, fmtTicks, niceTicks } from "./util";
import { renderMarkdown } from "./markdown";

const el = document.getElementById("tbhub-config");
if (el) {
  const cfg = JSON.parse(el.textContent || "{}") as Config;
  const app = new App(cfg, {
    scalars: (a) => new ScalarsPanel(a),
    images: (a) => new ImagesPanel(a),
    graphs: (a) => new GraphsPanel(a),
    distributions: (a) => new DistributionsPanel(a),
    histograms: (a) => new HistogramsPanel(a),
    text: (a) => new TextPanel(a),
    hparams: (a) => new HParamsPanel(a),
  });
  // Pure helpers, exposed for tests and the curious (the same functions the charts use).
  (window as unknown as { tbhubLib: unknown }).tbhubLib = {
    smooth,
    smoothFrom,
    emaStateBefore,
    alignSteps,
    absoluteRanges,
    withNeighbours,
    compareTagNames,
    groupTags,
    fmtTick,
    fmtTicks,
    niceTicks,
    renderMarkdown,
  };
  void app.start();
}
