// Placeholder until the real keypoints module lands (same interface: see index.js). It keeps the
// registry importable; a job using this kind shows "not available yet" in the control's place.
export default {
  kind: "keypoints",
  keyed: true,
  mount(control) {
    throw new Error(`${control.name}: keypoints are not available on this page yet.`);
  },
};
