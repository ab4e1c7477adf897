// The response type of each of the SDK's methods, named after the method (dots become `__`), so
// that ts-json-schema-generator can emit one JSON Schema per method from the SDK's own types.
// List methods answer one page: the SDK's page response type over its item type.
import type {
  AssetsCursorPageResponse,
  CanvasNodesCursorPageResponse,
  GenerationsCursorPageResponse,
  ProjectsCursorPageResponse,
  TechniqueRunsCursorPageResponse,
  TechniquesCursorPageResponse,
} from './node_modules/@flora-ai/flora/src/core/pagination';
import type * as Actions from './node_modules/@flora-ai/flora/src/resources/actions';
import type * as Assets from './node_modules/@flora-ai/flora/src/resources/assets';
import type * as Feedback from './node_modules/@flora-ai/flora/src/resources/feedback';
import type * as Generations from './node_modules/@flora-ai/flora/src/resources/generations';
import type * as Models from './node_modules/@flora-ai/flora/src/resources/models';
import type * as ProjectActions from './node_modules/@flora-ai/flora/src/resources/projects/actions';
import type * as ProjectAssets from './node_modules/@flora-ai/flora/src/resources/projects/assets';
import type * as ProjectCanvas from './node_modules/@flora-ai/flora/src/resources/projects/canvas';
import type * as Projects from './node_modules/@flora-ai/flora/src/resources/projects/projects';
import type * as Runs from './node_modules/@flora-ai/flora/src/resources/runs';
import type * as TechniqueRuns from './node_modules/@flora-ai/flora/src/resources/techniques/runs';
import type * as Techniques from './node_modules/@flora-ai/flora/src/resources/techniques/techniques';
import type * as WsFolders from './node_modules/@flora-ai/flora/src/resources/workspaces/folders';
import type * as LibFolders from './node_modules/@flora-ai/flora/src/resources/workspaces/library/folders';
import type * as WsCanvas from './node_modules/@flora-ai/flora/src/resources/workspaces/projects/canvas';
import type * as WsProjects from './node_modules/@flora-ai/flora/src/resources/workspaces/projects/projects';
import type * as Workspaces from './node_modules/@flora-ai/flora/src/resources/workspaces/workspaces';
import type { WebhookEvent } from './node_modules/@flora-ai/flora/src/lib/webhooks';

export type workspaces__list = Workspaces.WorkspaceListResponse;
export type workspaces__projects__create = WsProjects.ProjectCreateResponse;
export type workspaces__projects__graph = WsProjects.ProjectGraphResponse;
export type workspaces__projects__runNodes = WsProjects.ProjectRunNodesResponse;
export type workspaces__projects__canvas__retrieveDefinition = WsCanvas.CanvasRetrieveDefinitionResponse;
export type workspaces__projects__canvas__replaceDefinition = WsCanvas.CanvasReplaceDefinitionResponse;
export type workspaces__projects__canvas__applyChangeset = WsCanvas.CanvasApplyChangesetResponse;
export type workspaces__folders__createProject = WsFolders.FolderCreateProjectResponse;
export type workspaces__library__folders__create = LibFolders.FolderCreateResponse;
export type workspaces__library__folders__addItem = LibFolders.FolderAddItemResponse;
export type workspaces__library__folders__delete = LibFolders.FolderDeleteResponse;

export type projects__list = ProjectsCursorPageResponse<Projects.ProjectListResponse>;
export type projects__create = Projects.ProjectCreateResponse;
export type projects__retrieve = Projects.ProjectRetrieveResponse;
export type projects__listNodes = CanvasNodesCursorPageResponse<Projects.ProjectListNodesResponse>;
export type projects__assets__attachAsset = ProjectAssets.AssetAttachAssetResponse;
export type projects__canvas__retrieve = ProjectCanvas.CanvasRetrieveResponse;
export type projects__canvas__update = ProjectCanvas.CanvasUpdateResponse;
export type projects__actions__create = ProjectActions.ActionCreateResponse;
export type projects__actions__run = ProjectActions.ActionRunResponse;

export type assets__create = Assets.AssetCreateResponse;
export type assets__retrieve = Assets.AssetRetrieveResponse;
export type assets__list = AssetsCursorPageResponse<Assets.AssetListResponse>;
export type assets__complete = Assets.AssetCompleteResponse;
export type assets__retry = Assets.AssetRetryResponse;

export type actions__list = Actions.ActionListResponse;
export type actions__retrieve = Actions.ActionRetrieveResponse;
export type actions__run = Actions.ActionRunResponse;

export type models__list = Models.ModelListResponse;

export type generations__create = Generations.GenerationCreateResponse;
export type generations__retrieve = Generations.GenerationRetrieveResponse;
export type generations__list = GenerationsCursorPageResponse<Generations.GenerationListResponse>;

export type techniques__list = TechniquesCursorPageResponse<Techniques.TechniqueListResponse>;
export type techniques__retrieve = Techniques.TechniqueRetrieveResponse;
export type techniques__runs__create = TechniqueRuns.RunCreateResponse;
export type techniques__runs__retrieve = TechniqueRuns.RunRetrieveResponse;
export type techniques__runs__list = TechniqueRunsCursorPageResponse<TechniqueRuns.RunListResponse>;

export type runs__startGeneration = Runs.RunStartGenerationResponse;
export type runs__startTechnique = Runs.RunStartTechniqueResponse;

export type feedback__record = Feedback.FeedbackRecordResponse;

// Not a method: the event `webhooks.unwrap` returns, checked on a delivery the backend made.
export type webhooks__event = WebhookEvent;
