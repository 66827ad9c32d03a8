/** Dashboard entry: global theme tokens and the app shell (which imports every view). */
import './styles.css';
import './components/fp-app.js';
