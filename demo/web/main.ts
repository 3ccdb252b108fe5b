/**
 * The demo page (`npm run demo:web`): see the neighborhood, train in the browser, time na2d. It runs next
 * to the UMD bundles (tfjs as the global `tf`, tfjs-natten as `natten`; demo/web/serve.ts bundles it).
 */
import {NeighborhoodView} from './neighborhood';
import {TimingView} from './timing';
import {TrainingView} from './training';

const byId = (id: string) => document.getElementById(id)!;

new NeighborhoodView(byId('na-controls') as HTMLFormElement, byId('na-grid'), byId('na-stats'), byId('na-error'));
new TrainingView();
new TimingView();
document.body.dataset.ready = 'true';
