/** Vite's `?inline` CSS imports (the chart library's stylesheet goes into a shadow root). */
declare module '*.css?inline' {
  const css: string;
  export default css;
}
declare module '*.css';
