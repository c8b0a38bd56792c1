package engine

import (
	"context"
	"time"

	"github.com/koihq/koi/engine/domain"
)

// TaskStore is the guides' task list as their tools use it.
type TaskStore interface {
	// ListTasks lists a guide's tasks, in the order they were created.
	ListTasks(ctx context.Context, f domain.TaskFilter) ([]*domain.Task, error)
	// CompleteTask marks a guide's open task done at now; ENotFound when
	// the guide has no such task, EConflict when it is done already.
	CompleteTask(ctx context.Context, guide string, id int64, now time.Time) (*domain.Task, error)
	// GuideLoad counts the open tasks of each guide that has any.
	GuideLoad(ctx context.Context) (map[string]int, error)
}
