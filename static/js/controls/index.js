/**
 * The control registry: one ES module per Label Studio control kind (design.md §5).
 * The task view (static/js/task-view.js, which the labeling page and the job form's preview share)
 * and the results page (static/js/results.js) only talk to controls through this interface; adding
 * a kind means one module here and one entry in annotation/controls/ on the server.
 *
 * A module's default export:
 *
 *   export default {
 *     kind: "choices",           // = spec.controls[i].kind
 *     keyed: true,               // takes number keys 1–9 (the page hands out keys in layout order)
 *     mount(control, ctx) { ...; return instance; },
 *   };
 *
 * control — one entry of spec.controls (LabelSpec.to_json()):
 *   { name, kind, to_name (comma-joined object names; Pairwise has two), multiple, choices (Choice or
 *     Label values), result_type (Label Studio result `type`), required, scored, target_kind, options }
 *
 * ctx (built by the page for each mount, i.e. once per task):
 *   task                          the task JSON {id, item_id, data: {variable: value}, answer_url, skip_url}
 *                                    (in the job form's preview only {data}: a control reads no more)
 *   spec                          the whole spec {objects, controls, layout}
 *   objectElement(name)           -> the rendered element of object `name` (see objects.js: for image an
 *                                    <img class="task-image">, audio an <audio class="task-audio"> inside
 *                                    a wrapper <div class="task-object" data-object=name>; the element
 *                                    returned is the wrapper, its media/text child is
 *                                    wrapper.querySelector("[data-object-content]"))
 *   objectValue(name)             -> the object's raw value from task.data (string, URL, or paragraph list)
 *   keyOffset                     first number key for this control (1-based); a control using keys
 *                                    keyOffset … keyOffset+keyCount-1 shows them (keys above 9 get none)
 *   shared(objectName, key, factory)
 *                                 -> one shared value per (object, key) for this task, made by factory()
 *                                    the first time (e.g. one Annotorious instance per image, shared by a
 *                                    RectangleLabels and a PolygonLabels on it); if it has destroy() the
 *                                    page calls it when the task is left
 *   onChange()                    call after any change of the answer (the page clears its error line)
 *
 * instance (returned by mount):
 *   element    HTMLElement|null  placed by the page at the control's layout position (null: nothing to place)
 *   keyCount   number            how many number keys it used (0 for unkeyed)
 *   onKey(event) -> bool         a number key in [keyOffset, keyOffset+keyCount) or Delete/Backspace
 *                                  (every instance is offered Delete/Backspace; return true if it removed
 *                                  its selected region); return true when handled (page preventDefaults)
 *   result()   -> array of {value}   Label Studio result values, one per region (one for a
 *                                  classification, [] for an optional one left empty); the page adds
 *                                  from_name, to_name (= control.to_name: the server takes no other) and type
 *   missing()  -> string|null    client-side message when a required answer is missing, else null
 *   destroy()                    undo everything mount did outside `element` (listeners, highlights)
 *
 *
 * mount returns synchronously. Every module is imported statically by this file, so a module must not
 * import a vendor library (static/vendor/…) at its top level: load it with `await import()` inside
 * mount and fill `element` when it is ready (showing a message in it if the load fails). A missing
 * vendor file then breaks that one control, not the labeling page of every job. If mount throws, the
 * page shows the error in the control's place and refuses to submit.
 *
 * A module may also export a named function
 *   export function show(control, value, ctx) -> HTMLElement
 * rendering a *normalized* value (what the server stores, docs/annotation-types.md) read-only, for the
 * results page; ctx there is { spec, data (the item's data), objectElement(name), objectValue(name) }
 * where objectElement renders the object read-only on first call (for region kinds to draw on).
 */
import choices from "./choices.js";
import pairwise from "./pairwise.js";
import spans from "./spans.js";
import segments from "./segments.js";
import rectangles from "./rectangles.js";
import polygons from "./polygons.js";
import keypoints from "./keypoints.js";
import textarea from "./textarea.js";
import rating from "./rating.js";
import number from "./number.js";

import * as choicesModule from "./choices.js";
import * as pairwiseModule from "./pairwise.js";
import * as spansModule from "./spans.js";
import * as segmentsModule from "./segments.js";
import * as rectanglesModule from "./rectangles.js";
import * as polygonsModule from "./polygons.js";
import * as keypointsModule from "./keypoints.js";
import * as textareaModule from "./textarea.js";
import * as ratingModule from "./rating.js";
import * as numberModule from "./number.js";

export const KINDS = { choices, pairwise, spans, segments, rectangles, polygons, keypoints, textarea, rating, number };

/** kind -> the module's `show` (or undefined): the results page renders stored values with these. */
export const SHOW = Object.fromEntries(
  Object.entries({
    choices: choicesModule, pairwise: pairwiseModule, spans: spansModule, segments: segmentsModule,
    rectangles: rectanglesModule, polygons: polygonsModule, keypoints: keypointsModule,
    textarea: textareaModule, rating: ratingModule, number: numberModule,
  }).map(([kind, module]) => [kind, module.show]),
);
