// Tailwind CSS 4 runs as a PostCSS plugin and finds its sources by itself; no tailwind config.
export default {
  plugins: {
    "@tailwindcss/postcss": {},
  },
};
